# Threat-intel feed benchmark: loading the CISA KEV catalog and FIRST EPSS
# scores (the shipped sample and a generated full-size file), lookup and
# enrichment speed, and the memory a loaded snapshot takes. Included from
# bench/CMakeLists.txt.
#
#   build/bench/intel_bench --benchmark_counters_tabular=true
add_executable(intel_bench ${CMAKE_CURRENT_LIST_DIR}/intel_bench.cc)
target_link_libraries(intel_bench PRIVATE treatd_intel benchmark::benchmark)
target_compile_definitions(intel_bench
  PRIVATE TREATD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_compile_options(intel_bench PRIVATE ${TREATD_WARNINGS})
