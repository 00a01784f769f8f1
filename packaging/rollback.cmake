# packaging/rollback.cmake - the rollback plan's operator files (issue 13),
# included from the top-level CMakeLists.txt.
#  * daqd-rollback-guard: the systemd unit's ExecStartPre/ExecStopPost
#    (packaging/daqd.service.in names it in LIBEXECDIR/daq); copied into the
#    build directory so tests run the file the unit names.
#  * prometheus/daq-rollback.rules.yml (+ its promtool tests): alert rules for
#    the symptom table and the checkpoint thresholds.
#  * grafana/daq-rollback.json: a dashboard of the same series.
configure_file(${CMAKE_CURRENT_LIST_DIR}/daqd-rollback-guard
               ${CMAKE_BINARY_DIR}/daqd-rollback-guard COPYONLY)
install(PROGRAMS ${CMAKE_BINARY_DIR}/daqd-rollback-guard
        DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/daq)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/prometheus/daq-rollback.rules.yml
              ${CMAKE_CURRENT_LIST_DIR}/prometheus/daq-rollback.tests.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/daq/prometheus)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/grafana/daq-rollback.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/daq/grafana)
