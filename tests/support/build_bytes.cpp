// ByteBuilder is header-only; this unit keeps the support library non-empty on every compiler.
#include "support/build_bytes.hpp"
