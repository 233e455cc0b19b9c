// Defines the one link-check symbol of this build's variant (see gopp/detail/link_check.hpp):
// the library compiled with -fsanitize=thread defines only the TSan symbol, and so on.
#include "gopp/detail/link_check.hpp"

extern "C" const char GOPP_DETAIL_LINK_CHECK = 0;
