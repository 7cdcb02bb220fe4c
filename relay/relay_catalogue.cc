#include "relay/relay_catalogue.h"

#include "absl/strings/str_cat.h"
#include "common/catalogue.h"
#include "common/host_port.h"

namespace relayscope::relay {

absl::StatusOr<std::vector<std::string>> ListenAddressesOf(const v1::Catalogue& catalogue,
                                                           absl::string_view relay_id,
                                                           absl::string_view source_name) {
  const v1::Relay* relay = FindRelay(catalogue, relay_id);
  if (relay == nullptr) {
    return absl::NotFoundError(absl::StrCat("no relay \"", relay_id, "\" in ", source_name));
  }
  std::vector<std::string> listen;
  for (const std::string& address : relay->addresses()) {
    for (uint32_t port : relay->ports()) listen.push_back(HostPort(address, port));
  }
  return listen;
}

}  // namespace relayscope::relay
