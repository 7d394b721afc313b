// Comm where the build found no MPI: the package trains in one process; asking for a
// process group says what to install.
#include "bot/dist.h"
#include "bot/status.h"

namespace bot {
namespace dist {

bool mpi_built() { return false; }
std::string mpi_library_version() { return ""; }

std::shared_ptr<Comm> world(double) {
  fail(Code::kDistUnavailable,
       "this build of bagoftricks has no MPI (the prebuilt addon never has): install Open MPI (Debian/Ubuntu: "
       "apt-get install openmpi-bin libopenmpi-dev), then build from source: BAGOFTRICKS_BUILD_FROM_SOURCE=1 npm "
       "rebuild bagoftricks");
}

bool initialized() { return false; }
void finalize() {}

}  // namespace dist
}  // namespace bot
