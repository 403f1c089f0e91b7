src/core/criteria.o: src/core/criteria.cpp src/core/criteria.hpp \
 src/core/exact.hpp src/core/json.hpp
src/core/criteria.hpp:
src/core/exact.hpp:
src/core/json.hpp:
