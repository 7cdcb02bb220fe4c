// A real PostgreSQL server for tests: initdb into a temp dir, `postgres` on
// a loopback port (as nobody when the test runs as root, since PostgreSQL
// refuses to run as root), trust authentication for the role "relayscope",
// stopped by its own PID (fast shutdown) when the object goes away.
#ifndef TESTS_RIG_POSTGRES_H_
#define TESTS_RIG_POSTGRES_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/rig/process.h"

namespace relayscope::rig {

class Postgres {
 public:
  // The directory holding initdb and postgres: the newest
  // /usr/lib/postgresql/<version>/bin, else the PATH's. NOT_FOUND (saying
  // which package to install) if there is none.
  static absl::StatusOr<std::string> FindBinDir();

  // Creates a cluster in `dir`/pgdata and starts it on 127.0.0.1:`port`
  // (0: a free port); returns once it accepts connections (at most 30 s).
  static absl::StatusOr<std::unique_ptr<Postgres>> Start(const std::string& dir, uint16_t port = 0);
  ~Postgres();

  uint16_t port() const { return port_; }
  // Creates a database and returns its URL, "postgresql://relayscope@127.0.0.1:<port>/<name>".
  absl::StatusOr<std::string> CreateDatabase(const std::string& name);
  // Runs one SQL command in `database` (for tests that tamper).
  absl::Status Execute(const std::string& database, const std::string& sql);
  // Runs a query in `database`; its first row's first value.
  absl::StatusOr<std::string> QueryValue(const std::string& database, const std::string& sql);
  std::string Url(const std::string& database) const;
  Process& process() { return *process_; }

 private:
  Postgres(uint16_t port, std::unique_ptr<Process> process)
      : port_(port), process_(std::move(process)) {}
  uint16_t port_;
  std::unique_ptr<Process> process_;
};

}  // namespace relayscope::rig

#endif  // TESTS_RIG_POSTGRES_H_
