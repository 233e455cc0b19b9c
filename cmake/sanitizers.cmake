# One switch for the sanitizer builds (presets `asan` and `tsan`). The runtime annotates its fiber
# switches for both (src/runtime/sanitizers.hpp), so goroutine code is checked like thread code.
if(GOPP_SANITIZER STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(GOPP_SANITIZER_ADDRESS=1)
elseif(GOPP_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(GOPP_SANITIZER_THREAD=1)
elseif(NOT GOPP_SANITIZER STREQUAL "")
  message(FATAL_ERROR "GOPP_SANITIZER must be '', 'address' or 'thread', not '${GOPP_SANITIZER}'")
endif()
