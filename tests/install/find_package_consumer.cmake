# cmake -P script behind Install.FindPackageConsumer (see CMakeLists.txt).
foreach(var TREATD_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR CXX_COMPILER)
  if(NOT ${var})
    message(FATAL_ERROR "${var} not set")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${step} failed (${rc}): ${ARGN}")
  endif()
endfunction()

run("install" ${CMAKE_COMMAND} --install "${TREATD_BUILD_DIR}"
    --prefix "${prefix}")

set(configure_args
  -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}"
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  # Only the scratch prefix may provide treatd.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  "-DTREATD_EXPECTED_DIR=${prefix}")
if(CXX_COMPILER_LAUNCHER)
  list(APPEND configure_args
    "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER}")
endif()
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
run("consumer configure" ${CMAKE_COMMAND} ${configure_args})
run("consumer build" ${CMAKE_COMMAND} --build "${consumer_build}")
run("consumer run" "${consumer_build}/treatd_consumer")
