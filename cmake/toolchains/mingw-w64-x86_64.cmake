# Cross-compiling for 64-bit Windows with Debian 12's mingw-w64 (GCC 12,
# the posix thread model: std::thread and std::mutex over winpthreads).
# Used by deploy/dev/windows-deps.sh for the dependencies and by the
# release-windows preset for the agent. Programs (protoc) come from the
# host; headers, libraries and CMake packages only from the target roots:
# the mingw-w64 sysroot and the cross-built dependencies, passed as
# -DRELAYSCOPE_MINGW_ROOTS="a;b;..." (deploy/dev/windows-deps.sh prints it).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_AR x86_64-w64-mingw32-gcc-ar-posix CACHE FILEPATH "")
set(CMAKE_RANLIB x86_64-w64-mingw32-gcc-ranlib-posix CACHE FILEPATH "")

set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32 ${RELAYSCOPE_MINGW_ROOTS})
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES RELAYSCOPE_MINGW_ROOTS)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Only static archives: the .exe must need no DLL but Windows' own.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)

# libgcc, libstdc++ and winpthreads linked in (a -DCMAKE_EXE_LINKER_FLAGS
# given on the command line replaces this: keep -static in it).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
# ctest and try_run run Windows programs under Wine.
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/lib/wine/wine64)
