src/core/exact.o: src/core/exact.cpp src/core/exact.hpp
src/core/exact.hpp:
