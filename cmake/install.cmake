# Install rules: headers, the library, an exported CMake package (find_package(gopp CONFIG))
# and a pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS gopp EXPORT goppTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/gopp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT goppTargets NAMESPACE gopp:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gopp)
configure_package_config_file(cmake/goppConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/goppConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gopp)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/goppConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/goppConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/goppConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gopp)
configure_file(cmake/gopp.pc.in ${CMAKE_CURRENT_BINARY_DIR}/gopp.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gopp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
