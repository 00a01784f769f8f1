/* drivers/drivers.h - the built-in drivers' entry points, for the registry
 * (camera/registry.c) only.  Each driver exports exactly one daq_driver;
 * everything else in its folder is static or private to the driver. */
#ifndef DAQ_DRIVERS_H
#define DAQ_DRIVERS_H

#include "daq/camera.h"

extern const daq_driver daq_sim_driver;    /* drivers/sim/sim_driver.c */
extern const daq_driver daq_pvcam_driver;  /* drivers/pvcam/pvcam_driver.c */
extern const daq_driver daq_aravis_driver; /* drivers/aravis/aravis_driver.c */

#endif
