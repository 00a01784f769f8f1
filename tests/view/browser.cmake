# tests/view/browser.cmake - the live view in a real browser (issue 14's
# acceptance): tests/integration/test_view_browser.py drives daqd's page in
# Debian's headless Chromium through tests/browser/driver.mjs (Node +
# puppeteer-core, pinned in tests/browser/package-lock.json), and
# `daq-bench view` runs once, short, for a complete and sane JSON (not its
# speed targets: make check runs under load).
#
# puppeteer-core is installed by `npm ci` into <build>/browser (never the
# source tree) by the fixture view.browser.npm: ~5 s the first time, a file
# compare after.  Everything skips (77) only when /usr/bin/chromium or node
# is missing; CI has both.  Labels: integration;view;browser (the ASan suite
# leaves "browser" out: Chromium and 8 MiB frames at 100 FPS under ASan test
# the machine, not the page).  Wall time on 2 cores: page ~15 s, viewers
# ~15 s (alone: its verdicts are frame rates), auth ~5 s, bench ~20 s.
# Included from tests/CMakeLists.txt (DAQ_WITH_SERVER).
if(NOT TARGET daqd)
  return()
endif()
set(DAQ_BROWSER_SRC ${PROJECT_SOURCE_DIR}/tests/browser)
set(DAQ_BROWSER_LABELS "integration;view;browser")

add_test(NAME view.browser.npm
         COMMAND ${DAQ_BROWSER_SRC}/npm_install.sh ${DAQ_BROWSER_SRC} ${CMAKE_BINARY_DIR}/browser)
set_tests_properties(view.browser.npm PROPERTIES LABELS "${DAQ_BROWSER_LABELS}" TIMEOUT 600
                     SKIP_RETURN_CODE 77 FIXTURES_SETUP daq_browser_npm)

foreach(case Page Viewers Auth)
  string(TOLOWER ${case} name)
  add_test(NAME view.browser.${name}
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_view_browser.py $<TARGET_FILE:daqd> ${CMAKE_BINARY_DIR}
                   ${case}
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(view.browser.${name} PROPERTIES LABELS "${DAQ_BROWSER_LABELS}" TIMEOUT 300
                       SKIP_RETURN_CODE 77 FIXTURES_REQUIRED daq_browser_npm)
endforeach()
# Its verdicts are frame rates (three tabs, a 100 FPS 2048^2 camera): alone.
set_tests_properties(view.browser.viewers PROPERTIES RUN_SERIAL TRUE)

# bench/ is added after tests/ (the top CMakeLists.txt): its condition, not
# TARGET daq-bench, which does not exist yet here.
if(DAQ_BENCH AND DAQ_WITH_ARAVIS)
  add_test(NAME view.bench COMMAND $<TARGET_FILE:daq-bench> view --json --seconds 3 --check)
  set_tests_properties(view.bench PROPERTIES LABELS "${DAQ_BROWSER_LABELS}" TIMEOUT 300
                       SKIP_RETURN_CODE 77 FIXTURES_REQUIRED daq_browser_npm RUN_SERIAL TRUE)
endif()
