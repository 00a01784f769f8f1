/* daq/aravis.h - libdaq-aravis: GenICam cameras (GigE Vision, USB3 Vision)
 * through Aravis, as the camera driver type "aravis".
 *
 * The driver lives in its own library so that programs using libdaq alone
 * do not load GLib and Aravis.  A program that wants aravis cameras links
 * libdaq-aravis (pkg-config daq-aravis) and registers the driver once at
 * start-up, before configs are loaded or cameras created; from then on
 * daq_camera_create("aravis", ...) and [[devices]] with
 * `driver.type = "aravis"` work like any other driver (docs/aravis.md).
 */
#ifndef DAQ_ARAVIS_H
#define DAQ_ARAVIS_H

#include <stddef.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Adds the "aravis" driver to the camera registry (daq_driver_register):
 * 0, also when it is registered already; -1 with a message. */
DAQ_API int daq_aravis_register(char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
