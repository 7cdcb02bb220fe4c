#include "tests/e2e/stack.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "tests/support/telemetry_builders.h"

namespace relayscope::e2e {

absl::StatusOr<std::string> TokenHash(const std::string& token) {
  auto hash = rig::RunCommand(
      {"/bin/sh", "-c", "printf %s \"$1\" | sha256sum | cut -d' ' -f1", "sh", token});
  if (!hash.ok()) return hash.status();
  if (hash->exit_code != 0) return absl::InternalError("sha256sum: " + hash->output);
  return std::string(absl::StripAsciiWhitespace(hash->output));
}

absl::Status WriteTokenFile(const std::string& path,
                            const std::vector<std::pair<std::string, std::string>>& tokens,
                            const std::string& extra_lines) {
  std::string content;
  for (const auto& [name, token] : tokens) {
    auto hash = TokenHash(token);
    if (!hash.ok()) return hash.status();
    absl::StrAppend(&content, name, " ", *hash, "\n");
  }
  content += extra_lines;
  return WriteFileAtomically(path, content);
}

namespace {

// The value of `key=` in a ready file (grpc=, metrics=, http=).
absl::StatusOr<std::string> ReadyValue(const std::string& ready, absl::string_view key) {
  auto content = ReadFileToString(ready);
  if (!content.ok()) return content.status();
  for (absl::string_view line : absl::StrSplit(*content, '\n')) {
    if (absl::ConsumePrefix(&line, key) && absl::ConsumePrefix(&line, "=")) {
      return std::string(line);
    }
  }
  return absl::NotFoundError(absl::StrCat(ready, " has no ", key, "= line: ", *content));
}

// Starts `argv` with --ready-file=`ready` and its output in `log`.
absl::StatusOr<std::unique_ptr<rig::Process>> StartWithReadyFile(std::vector<std::string> argv,
                                                                 const std::string& ready,
                                                                 const std::string& log) {
  std::filesystem::remove(ready);
  rig::Process::Options process;
  process.argv = std::move(argv);
  process.argv.push_back("--ready-file=" + ready);
  process.log_path = log;
  return rig::Process::Start(process);
}

}  // namespace

absl::Status Collector::Start(bool wait) {
  Stop();
  std::vector<std::string> argv = {
      options_.binary, "--store=" + (options_.store.empty() ? "sqlite://" + db() : options_.store),
      "--catalogue=" + options_.catalogue, "--listen=" + options_.listen,
      "--metrics=" + options_.metrics};
  argv.push_back(options_.tokens.empty() ? "--allow-unauthenticated"
                                         : "--tokens=" + options_.tokens);
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  auto started = StartWithReadyFile(std::move(argv), ready(), log());
  if (!started.ok()) return started.status();
  process_ = *std::move(started);
  return wait ? WaitUntilReady() : absl::OkStatus();
}

absl::Status Collector::WaitUntilReady() {
  if (process_ == nullptr) return absl::FailedPreconditionError("the collector is not started");
  if (absl::Status up = rig::WaitForFile(ready(), absl::Seconds(20), process_.get()); !up.ok()) {
    return up;
  }
  // From now on the collector keeps these ports, also across restarts.
  auto grpc = ReadyValue(ready(), "grpc");
  if (!grpc.ok()) return grpc.status();
  options_.listen = *grpc;
  auto metrics = ReadyValue(ready(), "metrics");
  if (!metrics.ok()) return metrics.status();
  options_.metrics = *metrics;
  return absl::OkStatus();
}

void Collector::Kill() {
  if (process_ == nullptr) return;
  kill(process_->pid(), SIGKILL);
  process_->Stop();  // reaps it (and anything left in its group)
  process_.reset();
}

void Collector::Stop() {
  if (process_ != nullptr) process_->Stop();
  process_.reset();
}

uint16_t Collector::port() const {
  uint32_t port = 0;
  const size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(options_.listen.substr(colon + 1), &port)) {
    return 0;
  }
  return static_cast<uint16_t>(port);
}

std::string Collector::Scrape() const {
  auto curl = rig::RunCommand(
      {"/usr/bin/curl", "-s", "--noproxy", "*", "http://" + options_.metrics + "/metrics"});
  return curl.ok() && curl->exit_code == 0 ? curl->output : "";
}

absl::StatusOr<int64_t> Collector::QueryInt(const std::string& sql) const {
  auto result = rig::RunCommand({"/usr/bin/sqlite3", "-readonly", db(), sql}, absl::Seconds(30));
  if (!result.ok()) return result.status();
  int64_t value = 0;
  if (result->exit_code != 0 ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(result->output), &value)) {
    return absl::InternalError(absl::StrCat("sqlite3 \"", sql, "\": ", result->output));
  }
  return value;
}

absl::Status Dashboard::Start() {
  Stop();
  std::vector<std::string> argv = {options_.binary, "--collector=" + options_.collector,
                                   "--insecure", "--listen=" + options_.listen};
  if (!options_.token_file.empty()) argv.push_back("--collector-token-file=" + options_.token_file);
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  const std::string ready = options_.dir + "/" + options_.name + ".ready";
  auto started = StartWithReadyFile(std::move(argv), ready, log());
  if (!started.ok()) return started.status();
  process_ = *std::move(started);
  if (absl::Status up = rig::WaitForFile(ready, absl::Seconds(10), process_.get()); !up.ok()) {
    return up;
  }
  auto http = ReadyValue(ready, "http");
  if (!http.ok()) return http.status();
  options_.listen = *http;
  return absl::OkStatus();
}

void Dashboard::Stop() {
  if (process_ != nullptr) process_->Stop();
  process_.reset();
}

Stack::Stack(std::string dir, Binaries binaries)
    : dir_(std::move(dir)), binaries_(std::move(binaries)) {}

absl::Status Stack::WriteCatalogue(const std::string& text, const std::string& name) {
  catalogue_ = path(name);
  return WriteFileAtomically(catalogue_, text);
}

absl::Status Stack::WriteTokens(const std::string& name,
                                const std::vector<std::pair<std::string, std::string>>& tokens,
                                const std::string& extra_lines) {
  return WriteTokenFile(path(name), tokens, extra_lines);
}

absl::Status Stack::WriteSecret(const std::string& name, const std::string& secret) {
  return WriteFileAtomically(path(name), secret + "\n");
}

absl::StatusOr<rig::Process*> Stack::StartRelay(const std::string& listen,
                                                std::vector<std::string> extra_args,
                                                const std::string& name) {
  std::vector<std::string> argv = {binaries_.relay, "--listen=" + listen};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  const std::string ready = path(name + ".ready");
  auto relay = StartWithReadyFile(std::move(argv), ready, path(name + ".log"));
  if (!relay.ok()) return relay.status();
  if (absl::Status up = rig::WaitForFile(ready, absl::Seconds(10), relay->get()); !up.ok()) {
    return up;
  }
  relays_.push_back(*std::move(relay));
  return relays_.back().get();
}

absl::StatusOr<Collector*> Stack::StartCollector(Collector::Options options, bool wait) {
  if (options.binary.empty()) options.binary = binaries_.collector;
  if (options.dir.empty()) options.dir = dir_;
  if (options.catalogue.empty()) options.catalogue = catalogue_;
  collectors_.push_back(std::make_unique<Collector>(std::move(options)));
  if (absl::Status up = collectors_.back()->Start(wait); !up.ok()) return up;
  return collectors_.back().get();
}

absl::StatusOr<Dashboard*> Stack::StartDashboard(Dashboard::Options options) {
  if (options.binary.empty()) options.binary = binaries_.dashboard;
  if (options.dir.empty()) options.dir = dir_;
  if (options.collector.empty() && !collectors_.empty()) {
    options.collector = collectors_.front()->address();
  }
  dashboards_.push_back(std::make_unique<Dashboard>(std::move(options)));
  if (absl::Status up = dashboards_.back()->Start(); !up.ok()) return up;
  return dashboards_.back().get();
}

std::vector<std::string> Stack::AgentDiagnoseArgv(const Collector& collector) const {
  return {binaries_.agent,
          "diagnose",
          "--catalogue=" + catalogue_,
          "--discover=false",
          "--collector=" + collector.address(),
          "--insecure",
          "--token-file=" + path("token"),
          "--spool-dir=" + path("spool"),
          "--agent-id-file=" + path("agent-id"),
          "--report-dir=" + path("reports"),
          "--timeout=1s",
          "--upload-timeout=3s"};
}

void Stack::Stop() {
  for (auto& dashboard : dashboards_) dashboard->Stop();
  for (auto& collector : collectors_) collector->Stop();
  for (auto it = relays_.rbegin(); it != relays_.rend(); ++it) (*it)->Stop();
}

namespace {

bool IsSample(absl::string_view line, const std::string& metric) {
  return absl::StartsWith(line, metric + "{") || absl::StartsWith(line, metric + " ");
}

}  // namespace

double SumMetric(const std::string& exposition, const std::string& metric) {
  double total = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (IsSample(line, metric)) total += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
  }
  return total;
}

int CountSeries(const std::string& exposition, const std::string& metric) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) n += IsSample(line, metric);
  return n;
}

v1::UploadRequest MakeBatch(const std::string& agent_id, const std::string& session_id,
                            uint64_t batch_id, uint64_t first_sequence, int n,
                            const std::string& relay) {
  const v1::Attempt refused = test::AttemptBuilder()
                                  .To("emea", relay, 8443)
                                  .Outcome(v1::OUTCOME_CONNECTION_REFUSED)
                                  .Build();
  return test::UploadBatch(batch_id, agent_id, session_id,
                           test::Sequenced(refused, first_sequence, n));
}

std::string CatalogueText(const std::string& address) {
  return absl::StrCat(R"pb(name: "e2e"
                           regions { id: "emea" display_name: "EMEA"
                                     relays { id: "emea-1" addresses: ")pb",
                      address, R"pb(" ports: [8200, 8443] } }
  )pb");
}

}  // namespace relayscope::e2e
