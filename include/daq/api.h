/* daq/api.h - the marker of daq's public functions.
 *
 * daq's libraries are built with -fvisibility=hidden: only functions
 * declared DAQ_API in an installed header are exported, so the internals
 * (driver helpers, the TOML scanner, the gRPC plumbing) stay private and
 * can change freely.  A test (tests/scripts/check_exports.py) compares each
 * library's exported symbols with its public headers' declarations.
 *
 * DAQ_BUILDING is defined while building daq's libraries; a program that
 * includes the headers sees an empty marker.
 */
#ifndef DAQ_API_H
#define DAQ_API_H

#if defined(DAQ_BUILDING) && defined(__GNUC__)
#define DAQ_API __attribute__((visibility("default")))
#else
#define DAQ_API
#endif

#endif
