# How a sanitizer build is made: the one place for TREATD_SANITIZE and
# TREATD_BUILD_FUZZERS. Included before any target is defined, so that every
# project library is instrumented, not only the test or fuzzer sources.
#
#   -DTREATD_SANITIZE=address,undefined   the suite under ASan + UBSan
#   -DTREATD_SANITIZE=thread              the concurrency tests under TSan
#   -DTREATD_BUILD_FUZZERS=ON             (clang) the libFuzzer targets too
#
# The list goes to -fsanitize= for every target, and the first report stops
# the process (-fno-sanitize-recover) so that no test can pass over it.
# TREATD_BUILD_FUZZERS implies address,undefined and adds libFuzzer's
# coverage instrumentation (-fsanitize=fuzzer-no-link) to every object: one
# clang build directory (the Makefile's build-asan/) then serves both the
# ASan + UBSan suite and the fuzzers, whose binaries alone link libFuzzer
# (-fsanitize=fuzzer, tests/fuzz/CMakeLists.txt). In the test binaries the
# coverage callbacks go to the sanitizer runtime's empty defaults.
#
# Sanitizers replace malloc: a sanitizer build keeps the system allocator
# (server/CMakeLists.txt links tcmalloc only without TREATD_SANITIZE), since
# tcmalloc would hide heap errors from ASan and races from TSan. Meant for a
# build directory of its own: the flags slow code down several times.
set(TREATD_SANITIZE "" CACHE STRING
  "Comma-separated -fsanitize= list, e.g. address,undefined or thread")
option(TREATD_BUILD_FUZZERS
  "Build the libFuzzer targets (clang only; implies address,undefined)" OFF)

if(TREATD_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR
      "TREATD_BUILD_FUZZERS needs clang (libFuzzer): configure with "
      "-DCMAKE_CXX_COMPILER=clang++ in a separate build directory")
  endif()
  if(NOT TREATD_SANITIZE)
    set(TREATD_SANITIZE address,undefined CACHE STRING
      "Comma-separated -fsanitize= list, e.g. address,undefined or thread"
      FORCE)
  elseif(TREATD_SANITIZE MATCHES "thread")
    message(FATAL_ERROR "TREATD_BUILD_FUZZERS runs under ASan + UBSan, "
      "not TREATD_SANITIZE=${TREATD_SANITIZE}")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

if(TREATD_SANITIZE)
  add_compile_options(-fsanitize=${TREATD_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${TREATD_SANITIZE})
  # The prebuilt protobuf, Abseil and gRPC were compiled without TSan, and
  # their headers change class layouts under __SANITIZE_THREAD__ (protobuf's
  # MapFieldBase gains two counters): the instrumented code must see the
  # layouts the libraries have, or map fields crash across the boundary.
  if(TREATD_SANITIZE MATCHES "thread")
    add_compile_options(-U__SANITIZE_THREAD__)
  endif()
endif()
