# `cmake --install BUILD [--prefix P]`: what goes where (GNUInstallDirs, so the Debian package's
# prefix /usr and sysconfdir /etc come from debhelper's usual arguments).
#
#   sbin/tungate                                  the supervisor
#   libexec/tungate/{tunio,stackd,relayd}         its children (TG_LIBEXEC_DIR, compiled in)
#   share/man/man8/tungate.8, man5/tungate.conf.5
#   share/doc/tungate/{README.md,*.md}, share/doc/tungate/examples/tungate.conf
#   share/tungate/demo/{scripts/demo.sh,tests/e2e/lib.sh}   `tungate demo`
#   SYSCONFDIR/tungate/tungate.conf               the example, unless a file is already there
#   TG_SYSTEMD_UNIT_DIR/tungate.service           paths in it rewritten to this install's
#
# In the build tree tungate finds its children next to itself; installed, they are not there,
# so tungate falls back to the compiled-in libexec directory (tungate/children.c).

include(GNUInstallDirs)

set(TG_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
	"Where tungate.service is installed (relative: under the prefix)")

set(TG_INSTALL_LIBEXEC_DIR ${CMAKE_INSTALL_LIBEXECDIR}/tungate)
target_compile_definitions(tungate PRIVATE
	TG_LIBEXEC_DIR="${CMAKE_INSTALL_FULL_LIBEXECDIR}/tungate"
	TG_DEMO_INSTALLED_SCRIPT="${CMAKE_INSTALL_FULL_DATADIR}/tungate/demo/scripts/demo.sh")

install(TARGETS tungate RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS tunio stackd relayd RUNTIME DESTINATION ${TG_INSTALL_LIBEXEC_DIR})

install(FILES ${PROJECT_SOURCE_DIR}/man/tungate.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/man/tungate.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)

install(FILES ${PROJECT_SOURCE_DIR}/README.md
	${PROJECT_SOURCE_DIR}/docs/quickstart.md
	${PROJECT_SOURCE_DIR}/docs/troubleshooting.md
	${PROJECT_SOURCE_DIR}/docs/deployments.md
	${PROJECT_SOURCE_DIR}/docs/security.md
	${PROJECT_SOURCE_DIR}/docs/protocols.md
	${PROJECT_SOURCE_DIR}/docs/architecture.md
	DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/examples/tungate.conf
	DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# `tungate demo` runs the demo script with bash (so it needs no exec bit under /usr/share); it
# sources the e2e library beside it, as in the tree.
install(FILES ${PROJECT_SOURCE_DIR}/scripts/demo.sh
	DESTINATION ${CMAKE_INSTALL_DATADIR}/tungate/demo/scripts)
install(FILES ${PROJECT_SOURCE_DIR}/tests/e2e/lib.sh
	DESTINATION ${CMAKE_INSTALL_DATADIR}/tungate/demo/tests/e2e)

# The live configuration: installed once, never over an administrator's file. (The Debian
# package ships it as a conffile instead: dpkg asks before replacing a changed one.)
set(TG_CONF_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tungate)
install(CODE "
	set(conf \"\$ENV{DESTDIR}${TG_CONF_DIR}/tungate.conf\")
	if(EXISTS \"\${conf}\")
		message(STATUS \"Keeping: \${conf}\")
	else()
		# file(INSTALL) adds DESTDIR itself.
		file(INSTALL \"${PROJECT_SOURCE_DIR}/examples/tungate.conf\"
			DESTINATION \"${TG_CONF_DIR}\"
			FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
	endif()
")

# The unit names /usr/sbin/tungate and /etc/tungate/tungate.conf, the Debian paths; another
# prefix gets its own.
file(READ ${PROJECT_SOURCE_DIR}/systemd/tungate.service TG_UNIT)
string(REPLACE "/usr/sbin/tungate" "${CMAKE_INSTALL_FULL_SBINDIR}/tungate" TG_UNIT "${TG_UNIT}")
string(REPLACE "/etc/tungate/" "${TG_CONF_DIR}/" TG_UNIT "${TG_UNIT}")
file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/systemd/tungate.service CONTENT "${TG_UNIT}" @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
	${PROJECT_SOURCE_DIR}/systemd/tungate.service)
install(FILES ${CMAKE_BINARY_DIR}/systemd/tungate.service DESTINATION ${TG_SYSTEMD_UNIT_DIR})
