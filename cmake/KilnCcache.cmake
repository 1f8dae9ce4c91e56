# Use ccache when present. The sloppiness settings let ccache reuse objects built with
# the precompiled LibTorch header.
find_program(KILN_CCACHE ccache)
if(KILN_CCACHE)
  set(_kiln_launcher ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      ${KILN_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${_kiln_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_kiln_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${_kiln_launcher})
  message(STATUS "kiln: ccache ${KILN_CCACHE}")
endif()
