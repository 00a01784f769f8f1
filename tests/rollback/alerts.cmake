# tests/rollback/alerts.cmake - alerts and the systemd start guard (issue 13,
# deliverables 3 and 4).  Included from tests/CMakeLists.txt.
#  rollback.alerts.promtool   `promtool check rules` and `promtool test rules`
#                             on packaging/prometheus/ (every alert fires on
#                             its series with exact labels and annotations and
#                             stays silent on a healthy one).  < 1 s.
#  rollback.alerts.prometheus a real Prometheus (Debian /usr/bin/prometheus)
#                             scraping a real daqd with injected frame loss
#                             sees DaqFrameLoss fire and resolve; every metric
#                             name of the rules and the Grafana dashboard is
#                             exported by daqd (test_prometheus_alerts.py).  ~25 s.
#  rollback.unit_guard        the unit's ExecStartPre/ExecStart/ExecStopPost
#                             sequence against a daqd that crashes at pool
#                             init: 3 crashes, then a start without the pool
#                             that stays up; a clean stop resets the count
#                             (systemd-run where systemd is PID 1, emulated
#                             from the configured unit elsewhere).  ~15 s.
# promtool and prometheus come with Debian's package prometheus.
find_program(DAQ_PROMTOOL promtool)
set(_daq_prom_dir ${PROJECT_SOURCE_DIR}/packaging/prometheus)
if(DAQ_PROMTOOL)
  add_test(NAME rollback.alerts.promtool
           COMMAND sh -c "\"$0\" check rules daq-rollback.rules.yml && \"$0\" test rules daq-rollback.tests.yml"
                   ${DAQ_PROMTOOL}
           WORKING_DIRECTORY ${_daq_prom_dir})
else()
  add_test(NAME rollback.alerts.promtool
           COMMAND sh -c "echo 'FAIL: promtool missing (Debian package: prometheus)'; exit 1")
endif()
set_tests_properties(rollback.alerts.promtool PROPERTIES LABELS "unit;rollback" TIMEOUT 60)
if(TARGET daqd)
  add_test(NAME rollback.alerts.prometheus
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_prometheus_alerts.py $<TARGET_FILE:daqd>
                   ${PROJECT_SOURCE_DIR}
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(rollback.alerts.prometheus PROPERTIES LABELS "integration;rollback"
                       TIMEOUT 90)
  add_test(NAME rollback.unit_guard
           COMMAND ${DAQ_IT}/test_unit_rollback.sh $<TARGET_FILE_DIR:daqd> ${PROJECT_SOURCE_DIR}
                   ${CMAKE_BINARY_DIR}/daqd-rollback-guard)
  set_tests_properties(rollback.unit_guard PROPERTIES LABELS "integration;rollback" TIMEOUT 90)
endif()
