# Installs bb as a package others build on: the libraries with exported targets (bb::bb and one per
# floor), the headers under include/bb, bbConfig.cmake and bbConfigVersion.cmake for find_package,
# bb.pc for pkg-config, and CPack settings for a Debian package (scripts/package).
include(CMakePackageConfigHelpers)

set(BB_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/bb)

install(TARGETS bb_proto bb_async bb_wire bb_runtime bb_syscalls_objects bb_syscalls bb_node
                bb_dht bb_pubsub bb
        EXPORT bbTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT bbTargets NAMESPACE bb:: DESTINATION ${BB_INSTALL_CMAKEDIR})
# The build tree is a package too: -Dbb_DIR=<build dir> uses it without installing.
export(EXPORT bbTargets NAMESPACE bb:: FILE ${PROJECT_BINARY_DIR}/bbTargets.cmake)

foreach(floor IN LISTS BB_FLOORS)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/bb/${floor} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/bb
          FILES_MATCHING PATTERN "*.hpp" PATTERN "*.proto")
endforeach()
install(DIRECTORY ${BB_GENERATED_INCLUDE_DIR}/bb DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.pb.h")

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bbConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/bbConfig.cmake
                              INSTALL_DESTINATION ${BB_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bbConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/bbConfig.cmake ${PROJECT_BINARY_DIR}/bbConfigVersion.cmake
        DESTINATION ${BB_INSTALL_CMAKEDIR})

# bb.pc finds its prefix from where it lies, so the same file works in /usr and in a scratch prefix.
file(RELATIVE_PATH BB_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" BB_PC_TO_PREFIX "${BB_PC_TO_PREFIX}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/bb.pc.in ${PROJECT_BINARY_DIR}/bb.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/bb.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/CHANGELOG.md
              ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The Debian package: bb_<version>_amd64.deb with the binaries, libraries, headers and CMake files.
# The binaries' shared libraries become Depends (dpkg-shlibdeps); what building against bb needs
# is recommended.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME bb)
set(CPACK_PACKAGE_VENDOR "bb")
set(CPACK_PACKAGE_CONTACT "bb developers <bb@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "C++20 coroutine runtime for peer-to-peer nodes (libp2p: Noise, Yamux, gossipsub, Kademlia)")
set(CPACK_PACKAGE_DESCRIPTION "bb is a library and a daemon for peer-to-peer nodes that speak the \
libp2p stack (TCP, multistream-select, Noise, Yamux) with gossipsub and the Kademlia DHT. This \
package has bb-node, bb-chat, the static libraries, the headers under include/bb and the CMake and \
pkg-config files.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "libboost1.81-dev, libprotobuf-dev, libsodium-dev, libspdlog-dev, pkg-config")
include(CPack)
