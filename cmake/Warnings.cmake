# One INTERFACE target carries the project's warning flags; targets link it
# PRIVATE so the flags apply to our sources only, never to generated code or
# to consumers.
add_library(relayscope_warnings INTERFACE)
target_compile_options(relayscope_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  -Wformat=2)
if(RELAYSCOPE_WERROR)
  target_compile_options(relayscope_warnings INTERFACE -Werror)
endif()
