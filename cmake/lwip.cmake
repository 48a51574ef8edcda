# lwIP: never committed to this repository. At configure time scripts/fetch-lwip.sh fetches
# Debian's lwip source package (2.1.3+dfsg1) into the build tree and applies our patches; the
# target `lwip` is its core (no netconn/socket API, no apps, no PPP) plus our NO_SYS port in
# stackd/lwip-port. Set TG_LWIP_SOURCE_DIR (environment) to an extracted, unpatched lwip tree
# to build offline.

set(TG_LWIP_DIR ${CMAKE_BINARY_DIR}/_deps/lwip)
set(TG_LWIP_PATCH_DIR ${PROJECT_SOURCE_DIR}/stackd/lwip-patches)
set(TG_LWIP_PORT_DIR ${PROJECT_SOURCE_DIR}/stackd/lwip-port)

set(TG_TCP_MSS "" CACHE STRING "lwIP TCP_MSS (empty: 1460); raise it for jumbo MTUs")
option(TG_LWIP_ASSERT_ABORT "Abort on a failed lwIP assertion even in NDEBUG builds" OFF)
option(TG_LWIP_DEBUG "Build lwIP with LWIP_DEBUG (messages go to the debug log)" OFF)

# The script is a no-op when the tree's marker matches the patches' hash; listing the patches
# and the script as configure dependencies makes any change to them re-run it.
file(GLOB TG_LWIP_PATCHES CONFIGURE_DEPENDS ${TG_LWIP_PATCH_DIR}/*.patch)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
	${PROJECT_SOURCE_DIR}/scripts/fetch-lwip.sh ${TG_LWIP_PATCHES})

execute_process(
	COMMAND sh ${PROJECT_SOURCE_DIR}/scripts/fetch-lwip.sh ${TG_LWIP_DIR} ${TG_LWIP_PATCH_DIR}
	RESULT_VARIABLE TG_LWIP_FETCH_RESULT)
if(NOT TG_LWIP_FETCH_RESULT EQUAL 0)
	message(FATAL_ERROR "scripts/fetch-lwip.sh failed (${TG_LWIP_FETCH_RESULT}); see above")
endif()

set(TG_LWIP_SRC ${TG_LWIP_DIR}/src)
file(GLOB TG_LWIP_CORE_SOURCES
	${TG_LWIP_SRC}/core/*.c
	${TG_LWIP_SRC}/core/ipv4/*.c
	${TG_LWIP_SRC}/core/ipv6/*.c)
list(APPEND TG_LWIP_CORE_SOURCES ${TG_LWIP_SRC}/netif/ethernet.c)

add_library(lwip STATIC ${TG_LWIP_CORE_SOURCES}
	${TG_LWIP_PORT_DIR}/sys_arch.c ${TG_LWIP_PORT_DIR}/tg_lwip.c)
# SYSTEM: lwIP's headers must not trip the warnings of the code that includes them.
target_include_directories(lwip SYSTEM PUBLIC ${TG_LWIP_SRC}/include)
target_include_directories(lwip PUBLIC ${TG_LWIP_PORT_DIR})
target_link_libraries(lwip PUBLIC tg_common)

# Options that change struct layouts or constants must be the same for lwIP and its users.
if(TG_TCP_MSS)
	target_compile_definitions(lwip PUBLIC TG_TCP_MSS=${TG_TCP_MSS})
endif()
if(TG_LWIP_DEBUG)
	target_compile_definitions(lwip PUBLIC TG_LWIP_DEBUG)
endif()
# Sanitizer builds run the tests: a failed lwIP assertion there must stop them.
if(TG_LWIP_ASSERT_ABORT OR TG_SANITIZE)
	target_compile_definitions(lwip PRIVATE TG_LWIP_ASSERT_ABORT)
endif()

# Third-party code: no -Werror and no warnings, so a compiler upgrade cannot break the build.
set_source_files_properties(${TG_LWIP_CORE_SOURCES} PROPERTIES COMPILE_OPTIONS -w)
set_source_files_properties(${TG_LWIP_PORT_DIR}/sys_arch.c ${TG_LWIP_PORT_DIR}/tg_lwip.c
	PROPERTIES COMPILE_OPTIONS "${TG_WARNINGS}")
