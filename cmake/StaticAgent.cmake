# RELAYSCOPE_STATIC_AGENT: relayscope-agent as one self-contained Linux file
# (deploy/dev/release.sh linux, preset release-linux). Fully static
# (glibc, libstdc++, OpenSSL, protobuf, abseil, gRPC, libseccomp, nghttp2,
# Duktape from source, and the minimal libcurl release.sh builds from
# Debian's source package, found through CMAKE_PREFIX_PATH / CURL_DIR),
# stripped, and reproducible: paths are mapped and the compilers take
# SOURCE_DATE_EPOCH from the environment.
#
# relayscope_static_agent_prefer_archives() runs before the find_package
# calls: every find_library (FindOpenSSL, FindProtobuf, pkg-config's
# libseccomp, gRPC's c-ares/re2 modules, FindZLIB) then finds .a files.
# relayscope_static_agent_use_archives() runs after them: the CMake
# packages of abseil and gRPC name their .so files directly, so each
# imported target's .so is swapped for the .a beside it (an error names any
# library without one).
# relayscope_static_agent_link(target) sets the static link of the binary.

macro(relayscope_static_agent_prefer_archives)
  set(RELAYSCOPE_AGENT_ONLY ON CACHE BOOL "" FORCE)
  set(RELAYSCOPE_DUKTAPE_FROM_SOURCE ON CACHE BOOL "" FORCE)
  set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
  set(OPENSSL_USE_STATIC_LIBS ON)
  set(Protobuf_USE_STATIC_LIBS ON)
  set(ZLIB_USE_STATIC_LIBS ON)
  set(CURL_NO_CURL_CMAKE OFF)
  if(NOT CMAKE_BUILD_TYPE STREQUAL "Release")
    message(FATAL_ERROR "RELAYSCOPE_STATIC_AGENT is a release build: -DCMAKE_BUILD_TYPE=Release")
  endif()
  # Reproducible objects: no build or source path in them (__FILE__, debug
  # info), whatever directory the tree was checked out to.
  add_compile_options(-ffile-prefix-map=${CMAKE_SOURCE_DIR}=.
                      -ffile-prefix-map=${CMAKE_BINARY_DIR}=build
                      -ffunction-sections -fdata-sections)
endmacro()

function(relayscope_static_agent_use_archives)
  get_directory_property(imported IMPORTED_TARGETS)
  set(swapped 0)
  foreach(target IN LISTS imported)
    get_target_property(type ${target} TYPE)
    if(NOT type MATCHES "^(SHARED|UNKNOWN|STATIC)_LIBRARY$")
      continue()
    endif()
    get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
    set(properties IMPORTED_LOCATION)
    if(configs)
      foreach(config IN LISTS configs)
        list(APPEND properties IMPORTED_LOCATION_${config})
      endforeach()
    endif()
    foreach(property IN LISTS properties)
      get_target_property(location ${target} ${property})
      if(NOT location OR NOT location MATCHES "\\.so(\\.[0-9]+)*$")
        continue()
      endif()
      string(REGEX REPLACE "\\.so(\\.[0-9]+)*$" ".a" archive "${location}")
      if(NOT EXISTS "${archive}")
        message(FATAL_ERROR "static agent: ${target} has no static archive (${archive}) "
                            "beside ${location}")
      endif()
      set_target_properties(${target} PROPERTIES ${property} "${archive}")
      math(EXPR swapped "${swapped} + 1")
    endforeach()
    # A STATIC imported library must not be marked shared.
    if(type STREQUAL "SHARED_LIBRARY")
      set_target_properties(${target} PROPERTIES IMPORTED_NO_SONAME TRUE)
    endif()
  endforeach()
  message(STATUS "static agent: ${swapped} imported .so locations replaced by .a archives")
endfunction()

function(relayscope_static_agent_link target)
  # -static: glibc too, so the file runs on any x86-64 Linux (kernel >= the
  # glibc 2.36 minimum, 3.2). -s strips; --gc-sections drops the unused
  # sections of our own code (Debian's archives are not built with
  # -ffunction-sections, so theirs stay whole). The link warnings about
  # getaddrinfo/getpwuid/dlopen are glibc's: those calls would dlopen NSS
  # modules for sources other than `files` and `dns`, which static glibc
  # has built in.
  target_link_options(${target} PRIVATE -static -s -Wl,--gc-sections -Wl,--build-id=sha1)
  # CMake links libraries of the system's implicit directories as
  # -Wl,-Bstatic -lfoo -Wl,-Bdynamic, and pkg-config's as -lfoo (re2): the
  # link must start and end static, or libstdc++/libc/libre2 resolve to .so.
  set_target_properties(${target} PROPERTIES LINK_SEARCH_START_STATIC ON
                                             LINK_SEARCH_END_STATIC ON)
endfunction()
