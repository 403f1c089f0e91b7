src/core/matcher.o: src/core/matcher.cpp src/core/matcher.hpp \
 src/core/criteria.hpp src/core/exact.hpp src/core/json.hpp \
 src/core/customer.hpp
src/core/matcher.hpp:
src/core/criteria.hpp:
src/core/exact.hpp:
src/core/json.hpp:
src/core/customer.hpp:
