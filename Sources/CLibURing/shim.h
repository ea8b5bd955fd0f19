// liburing's header clashes in debug builds with glibc's fd_set and with swift-system's CSystem module (both
// define the io_uring structs). Pulling <features.h> and the kernel's <linux/io_uring.h> in first makes every
// later include agree on one definition. O_DIRECT is hidden by this order: use __O_DIRECT.
#include <features.h>
#include <linux/io_uring.h>
#include <liburing.h>
