src/core/json.o: src/core/json.cpp src/core/json.hpp
src/core/json.hpp:
