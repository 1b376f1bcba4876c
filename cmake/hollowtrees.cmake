# Helpers shared by every component's CMakeLists.txt.

# Strict warnings on our own code only; generated and system code is exempt.
function(ht_strict target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# ht_library(NAME SRCS a.cc b.cc DEPS x y)
function(ht_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  ht_strict(${name})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# ht_binary(NAME SRCS main.cc DEPS lib)
function(ht_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  ht_strict(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

# ht_use_jemalloc(NAME): a daemon's malloc and operator new come from
# jemalloc (see HT_JEMALLOC in the top-level CMakeLists.txt).
function(ht_use_jemalloc name)
  if(HT_JEMALLOC)
    target_link_libraries(${name} PRIVATE ${JEMALLOC_LIBRARY})
  endif()
endfunction()

# ht_test(NAME SRCS x_test.cc DEPS lib [LABELS l] [TIMEOUT s])
# One GoogleTest binary per component, registered with CTest as one test.
function(ht_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT HT_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  ht_strict(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} ht_testing GTest::gmock GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "HT_BIN_DIR=${PROJECT_BINARY_DIR}/bin;HT_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# ht_script_test(NAME COMMAND ... [TIMEOUT s] [LABELS l]): end-to-end scripts.
function(ht_script_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "COMMAND;LABELS;DEPENDS" ${ARGN})
  if(NOT HT_BUILD_TESTS)
    return()
  endif()
  add_test(NAME ${name} COMMAND ${ARG_COMMAND})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "HT_BIN_DIR=${PROJECT_BINARY_DIR}/bin;HT_SOURCE_DIR=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# Adds every immediate subfolder that has a CMakeLists.txt (in name order), so
# that a new component's tests or fakes need no edit of a shared file.
function(ht_add_subdirs)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(dir IN LISTS children)
    if(NOT dir STREQUAL "testing" AND EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt")
      add_subdirectory(${dir})
    endif()
  endforeach()
endfunction()
