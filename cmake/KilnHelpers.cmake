# kiln_add_library(NAME SOURCES ... DEPS ...): a static library of the project.
function(kiln_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# kiln_add_test(NAME SOURCES ... DEPS ... [LABELS ...]): one GoogleTest executable, its
# tests discovered into ctest. Label "gpu" marks tests that need a GPU to mean anything
# (they skip without one); scripts/gpu-check runs them.
function(kiln_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    KILN_SOURCE_DIR="${PROJECT_SOURCE_DIR}" KILN_PYTHON="${KILN_PYTHON}")
  if(TARGET kiln)  # tests that drive the binary find it here
    target_compile_definitions(${name} PRIVATE KILN_BINARY="$<TARGET_FILE:kiln>")
    add_dependencies(${name} kiln)
  endif()
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()
