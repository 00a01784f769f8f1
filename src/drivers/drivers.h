/* drivers/drivers.h - the drivers built into libdaq, for the registry
 * (drivers/registry.c) only.  Each exports exactly one daq_driver (hidden
 * outside libdaq); everything else in its folder is static or private to
 * the driver.  Drivers in other libraries (aravis) register themselves
 * through daq_driver_register. */
#ifndef DAQ_DRIVERS_H
#define DAQ_DRIVERS_H

#include "daq/camera_driver.h"

extern const daq_driver daq_sim_driver;   /* drivers/sim/sim_driver.c */
extern const daq_driver daq_pvcam_driver; /* drivers/pvcam/pvcam_driver.c */

#endif
