# RELAYSCOPE_SANITIZE=ON builds everything (our code and the tests) with
# AddressSanitizer and UndefinedBehaviorSanitizer; UBSan findings abort so a
# test fails instead of printing a warning nobody reads.
if(RELAYSCOPE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
