# One INTERFACE target carries the project's warning flags; targets link it
# PRIVATE so the flags apply to our sources only, never to generated code or
# to consumers.
add_library(relayscope_warnings INTERFACE)
target_compile_options(relayscope_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  -Wformat=2)
# clang checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED
# annotations (g++ ignores them). A finding is an error in every clang build,
# with or without RELAYSCOPE_WERROR: an unchecked annotation is only a comment.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(relayscope_warnings INTERFACE
    -Wthread-safety -Werror=thread-safety)
endif()
if(RELAYSCOPE_WERROR)
  target_compile_options(relayscope_warnings INTERFACE -Werror)
endif()
