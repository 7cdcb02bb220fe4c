// The routes to the collector for the upload, computed the way a relay's
// are: the collector is one more destination for proxy discovery (its PAC
// answer, the configured proxies with their bypass lists, then DIRECT),
// after the --proxy routes, with the credentials the diagnosis was given.
// So telemetry leaves this machine wherever the diagnosis did.
//
//   ASSIGN_OR_RETURN(v1::Catalogue asked, WithCollector(catalogue, target));
//   ProxySetup setup = DiscoverProxies(asked, ...);
//   std::optional<RelayRoutes> collector = TakeCollectorRoutes(&setup);
//   upload.routes = CollectorUploadRoutes(route_list, flag_routes, collector, direct);
#ifndef AGENT_CLI_COLLECTOR_ROUTES_H_
#define AGENT_CLI_COLLECTOR_ROUTES_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/cli/routes.h"
#include "agent/discovery/discover.h"
#include "agent/upload/uploader.h"
#include "relayscope/v1/catalogue.pb.h"

namespace relayscope::agent {

// The pseudo relay that stands for the collector in discovery.
inline constexpr char kCollectorDestinationId[] = "relayscope-collector";

// `catalogue` with the collector ("host:port", "[v6]:port") as a region
// and relay of its own, so discovery asks PAC and bypass lists about it as
// about a relay (PAC is asked for https://host:port/: the upload always
// goes through a CONNECT tunnel, as an https destination does, even h2c).
// INVALID_ARGUMENT "--collector: ..." when `target` is not host:port.
absl::StatusOr<v1::Catalogue> WithCollector(const v1::Catalogue& catalogue,
                                            const std::string& target);

// Takes the collector's own route list out of `setup`, with the PAC
// answers about it and the proxies only it would use, so the diagnosis and
// its reports see the relays alone. nullopt when it is not there.
std::optional<RelayRoutes> TakeCollectorRoutes(ProxySetup* setup);

// The upload's routes, in order: the first `flag_routes` routes of `list`
// (the --proxy values), then the collector's list from discovery (its
// alternatives left out: the upload wants a way out, not a diagnosis),
// DIRECT only when `direct`. Without a list from discovery: the --proxy
// routes, then DIRECT when `direct`.
std::vector<UploadRoute> CollectorUploadRoutes(const RouteList& list, size_t flag_routes,
                                               const std::optional<RelayRoutes>& collector,
                                               bool direct);

// The answers a person gave to a proxy's 407, kept for this process so the
// upload authenticates with what the diagnosis used and nobody is asked
// twice. Thread-safe (the diagnosis asks from worker threads).
class ProxyCredentialMemory {
 public:
  using Answer = std::optional<std::pair<std::string, std::string>>;

  // `ask` wrapped: a proxy already answered gets the same answer (or the
  // same refusal) without asking again. The memory must outlive it.
  ProxyCredentialsQuestion Remembering(ProxyCredentialsQuestion ask);

  // Fills in the remembered credentials of every proxy route that has
  // none of its own.
  void Apply(std::vector<UploadRoute>* routes) const;

 private:
  using Key = std::tuple<int, std::string, int>;
  mutable absl::Mutex mu_;
  std::map<Key, Answer> answers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace relayscope::agent

#endif  // AGENT_CLI_COLLECTOR_ROUTES_H_
