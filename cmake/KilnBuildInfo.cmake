# Run as `cmake -P` at every build: writes OUTPUT from INPUT with the current git revision,
# touching OUTPUT only when its text changes, so an unchanged revision rebuilds nothing.
execute_process(
  COMMAND git describe --always --dirty --abbrev=12
  WORKING_DIRECTORY "${SOURCE_DIR}"
  OUTPUT_VARIABLE KILN_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _rc ERROR_QUIET)
if(NOT _rc EQUAL 0 OR KILN_GIT_REVISION STREQUAL "")
  set(KILN_GIT_REVISION "unknown")
endif()
configure_file("${INPUT}" "${OUTPUT}.new" @ONLY)
file(COPY_FILE "${OUTPUT}.new" "${OUTPUT}" ONLY_IF_DIFFERENT)
