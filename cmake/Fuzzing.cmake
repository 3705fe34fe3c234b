# Flags of the libFuzzer build (TREATD_BUILD_FUZZERS=ON): every project
# target is compiled with coverage instrumentation for libFuzzer and with
# AddressSanitizer + UndefinedBehaviorSanitizer, which stop at the first
# report. Included before any target is defined so that the libraries the
# fuzzers exercise are instrumented, not only the fuzzer sources. Meant for
# a build directory of its own (`make fuzz` uses build-fuzz/): the flags
# would slow an ordinary build down several times.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "TREATD_BUILD_FUZZERS needs clang (libFuzzer): configure with "
    "-DCMAKE_CXX_COMPILER=clang++ in a separate build directory")
endif()
set(TREATD_FUZZ_SANITIZERS address,undefined)
add_compile_options(-fsanitize=fuzzer-no-link,${TREATD_FUZZ_SANITIZERS}
                    -fno-sanitize-recover=all -fno-omit-frame-pointer)
add_link_options(-fsanitize=${TREATD_FUZZ_SANITIZERS})
# Sanitizers replace malloc; tcmalloc would hide heap errors from ASan.
set(TREATD_TCMALLOC OFF CACHE BOOL "Link treatd with tcmalloc_minimal" FORCE)
