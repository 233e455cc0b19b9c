# Install rules: headers, the library, an exported CMake package (find_package(gopp CONFIG))
# and a pkg-config file, all in the install component `gopp` (tools/ installs gopp-pool in its
# own component, so `cmake --install <dir> --component gopp` needs only the library built).
#
# Variants. A build with GOPP_SANITIZER set installs a sanitizer-instrumented library beside the
# plain one, so that one prefix can hold all three (scripts/check-install.sh installs the CI's
# release, tsan and asan builds into one prefix):
#   GOPP_SANITIZER   library            CMake target       pkg-config
#   ''               libgopp.a          gopp::gopp         gopp
#   thread           libgopp-tsan.a     gopp::gopp_tsan    gopp-tsan
#   address          libgopp-asan.a     gopp::gopp_asan    gopp-asan   (ASan + UBSan)
# A variant's target and .pc carry its -fsanitize flags to the consumer. The headers and
# goppConfig.cmake are the same for every variant; each variant's targets live in their own file
# (goppTargets.cmake, goppTsanTargets.cmake, goppAsanTargets.cmake), which goppConfig.cmake
# loads when present. The headers make a mismatch fail at link time (gopp/detail/link_check.hpp).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(GOPP_SANITIZER STREQUAL "thread")
  set(gopp_variant_suffix "-tsan")
  set(gopp_variant_export goppTsanTargets)
  set(gopp_variant_flags "-fsanitize=thread")
elseif(GOPP_SANITIZER STREQUAL "address")
  set(gopp_variant_suffix "-asan")
  set(gopp_variant_export goppAsanTargets)
  set(gopp_variant_flags "-fsanitize=address,undefined")
else()
  set(gopp_variant_suffix "")
  set(gopp_variant_export goppTargets)
  set(gopp_variant_flags "")
endif()

if(gopp_variant_suffix)
  string(REPLACE "-" "_" gopp_variant_export_name "gopp${gopp_variant_suffix}")
  set_target_properties(gopp PROPERTIES OUTPUT_NAME "gopp${gopp_variant_suffix}"
                                        EXPORT_NAME "${gopp_variant_export_name}")
  # Only for the installed target: inside this build every target gets the flags anyway.
  string(REPLACE "," "$<COMMA>" gopp_variant_genex_flags "${gopp_variant_flags}")
  target_compile_options(gopp INTERFACE "$<INSTALL_INTERFACE:${gopp_variant_genex_flags}>")
  target_link_options(gopp INTERFACE "$<INSTALL_INTERFACE:${gopp_variant_genex_flags}>")
endif()

install(TARGETS gopp EXPORT ${gopp_variant_export}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT gopp
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT gopp
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT gopp)
install(DIRECTORY include/gopp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT gopp)
install(EXPORT ${gopp_variant_export} NAMESPACE gopp:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gopp
        COMPONENT gopp)
configure_package_config_file(cmake/goppConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/goppConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gopp)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/goppConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/goppConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/goppConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gopp COMPONENT gopp)

# pkg-config. The prefix is found from the .pc file's own place (${pcfiledir}), so the file is
# right wherever `cmake --install --prefix` puts it. The default library is static, and a static
# library brings none of its dependencies: plain `pkg-config --libs gopp` must list Boost.Context
# and the thread library itself (only a shared libgopp may leave them to Libs.private).
file(RELATIVE_PATH gopp_pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" gopp_pc_to_prefix "${gopp_pc_to_prefix}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(gopp_pc_prefix "${CMAKE_INSTALL_PREFIX}")
else()
  set(gopp_pc_prefix "\${pcfiledir}/${gopp_pc_to_prefix}")
endif()
string(STRIP "-lboost_context -lhiredis ${GOPP_PC_EXTRA_LIBS}" gopp_pc_deps)
get_target_property(gopp_boost_context_lib Boost::context LOCATION)
if(gopp_boost_context_lib)
  get_filename_component(gopp_boost_dir "${gopp_boost_context_lib}" DIRECTORY)
  if(NOT gopp_boost_dir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
    set(gopp_pc_deps "-L${gopp_boost_dir} ${gopp_pc_deps}")
  endif()
endif()
if(BUILD_SHARED_LIBS)
  set(gopp_pc_libs "-lgopp${gopp_variant_suffix} -pthread")
  set(gopp_pc_libs_private "${gopp_pc_deps}")
else()
  set(gopp_pc_libs "-lgopp${gopp_variant_suffix} ${gopp_pc_deps} -pthread")
  set(gopp_pc_libs_private "")
endif()
if(gopp_variant_flags)
  string(APPEND gopp_pc_libs " ${gopp_variant_flags}")
  set(gopp_pc_cflags_extra " ${gopp_variant_flags}")
else()
  set(gopp_pc_cflags_extra "")
endif()
if(GOPP_FRAME_POINTERS)
  string(PREPEND gopp_pc_cflags_extra " -fno-omit-frame-pointer")
endif()
set(gopp_pc_name "gopp${gopp_variant_suffix}")
configure_file(cmake/gopp.pc.in ${CMAKE_CURRENT_BINARY_DIR}/${gopp_pc_name}.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${gopp_pc_name}.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT gopp)
