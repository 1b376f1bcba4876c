#include "engine/ha/replica.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "lib/common/clock.h"
#include "lib/common/json_escape.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {

Replica::Replica(const HaConfig& config, std::string identity, ReplicaDeps deps)
    : identity_(std::move(identity)), retry_period_(config.retry_period), deps_(std::move(deps)) {}

absl::StatusOr<std::unique_ptr<Replica>> Replica::Create(const HaConfig& config,
                                                        std::string identity, ReplicaDeps deps) {
  std::unique_ptr<Replica> r(new Replica(config, std::move(identity), std::move(deps)));
  if (!r->deps_.new_plugin_client) r->deps_.new_plugin_client = [] { return NewGrpcPluginClient(); };
  r->deps_.metrics.leader.Set(0);
  Replica* self = r.get();
  kube::LeaderCallbacks callbacks;
  callbacks.on_started_leading = [self] { self->Post(Command::kLead); };
  callbacks.on_stopped_leading = [self] { self->Post(Command::kFollow); };
  callbacks.on_new_leader = [self](const std::string& leader) {
    self->deps_.logger.info("the leader is now {}", leader.empty() ? "nobody" : leader);
  };
  HT_ASSIGN_OR_RETURN(
      r->elector_,
      kube::LeaderElector::Create(r->deps_.lease, RealClock(),
                                  kube::LeaderElectionConfig{.identity = r->identity_,
                                                             .lease_duration = config.lease_duration,
                                                             .renew_deadline = config.renew_deadline,
                                                             .retry_period = config.retry_period},
                                  std::move(callbacks), r->deps_.logger));
  return r;
}

void Replica::Run() {
  control_ = std::thread([this] { ControlLoop(); });
  elector_->Start();
}

Replica::~Replica() {
  if (control_.joinable()) Shutdown(absl::ZeroDuration());
}

void Replica::Post(Command command) {
  absl::MutexLock lock(&control_mu_);
  commands_.emplace_back(command, "");
}

void Replica::ControlLoop() {
  while (true) {
    Command command;
    {
      absl::MutexLock lock(&control_mu_);
      control_mu_.Await(absl::Condition(
          +[](std::deque<std::pair<Command, std::string>>* q) { return !q->empty(); }, &commands_));
      command = commands_.front().first;
      commands_.pop_front();
    }
    switch (command) {
      case Command::kLead:
        Lead();
        break;
      case Command::kFollow:
        Follow("the Lease is no longer held");
        break;
      case Command::kStop:
        Follow("shutting down");
        return;
    }
  }
}

bool Replica::MayCall() const { return absl::Now() < elector_->LeaderUntil(); }

void Replica::Lead() {
  {
    absl::MutexLock lock(&mu_);
    if (term_ != nullptr || shut_down_) return;
  }
  // Fence the previous leader out and read what it left, for as long as
  // the Lease is ours.
  absl::StatusOr<Recovery> recovery;
  while (elector_->IsLeader()) {
    recovery = deps_.state.BeginTerm([this](const std::string&) {
      Post(Command::kFollow);
      // Fenced while the elector still holds the Lease (the state written
      // by hand?): try again, from the state as it is now.
      if (elector_->IsLeader()) Post(Command::kLead);
    });
    if (recovery.ok()) break;
    deps_.logger.error("cannot start leading: {}; trying again in {}", recovery.status().message(),
                       absl::FormatDuration(retry_period_));
    absl::SleepFor(retry_period_);
    absl::MutexLock lock(&control_mu_);
    if (!commands_.empty()) return;  // lost the Lease or shutting down meanwhile
  }
  if (!elector_->IsLeader() || !recovery.ok()) {
    deps_.state.EndTerm();
    return;
  }
  auto term = std::make_shared<Term>();
  term->plugins = deps_.new_plugin_client();
  DispatcherOptions options = deps_.dispatcher;
  options.may_call = [this] { return MayCall(); };
  term->dispatcher = std::make_unique<Dispatcher>(term->loop, *term->plugins, deps_.state,
                                                  deps_.metrics, deps_.logger, options);
  std::shared_ptr<const Ruleset> ruleset;
  {
    absl::MutexLock lock(&mu_);
    ruleset = ruleset_ != nullptr ? ruleset_ : deps_.ruleset();
  }
  term->dispatcher->SetRuleset(std::move(ruleset));
  absl::Notification resumed;
  term->dispatcher->Resume(*std::move(recovery), [&resumed] { resumed.Notify(); });
  resumed.WaitForNotification();
  term->poller = std::thread([this, t = term.get()] { PollLoop(t); });
  {
    absl::MutexLock lock(&mu_);
    term_ = term;
  }
  deps_.metrics.leader.Set(1);
  deps_.metrics.leader_transitions.Inc();
  deps_.logger.info("{} leads: calling plugins", identity_);
  if (deps_.on_leading) deps_.on_leading();
}

void Replica::Follow(const std::string& why) {
  std::shared_ptr<Term> term;
  {
    absl::MutexLock lock(&mu_);
    term.swap(term_);
  }
  if (term == nullptr) return;
  // First stop recording (so no new call), then the leader's sources.
  deps_.state.EndTerm();
  deps_.metrics.leader.Set(0);
  deps_.metrics.leader_transitions.Inc();
  deps_.logger.warn("{} stops acting: {}", identity_, why);
  if (deps_.on_following) deps_.on_following();
  term->dispatcher->StopCalling();
  {
    absl::MutexLock lock(&term->mu);
    term->stop = true;
  }
  term->poller.join();
  term->loop.Stop();
  term->plugins.reset();  // cancels calls in flight; their answers go nowhere
  term->dispatcher.reset();
  deps_.metrics.flows_running.Set(0);
  deps_.metrics.flows_queued.Set(0);
}

void Replica::PollLoop(Term* term) {
  while (true) {
    {
      absl::MutexLock lock(&term->mu);
      if (term->mu.AwaitWithTimeout(absl::Condition(&term->stop), deps_.poll_interval)) return;
    }
    std::vector<EventPtr> events;
    std::vector<int64_t> seqs;
    if (absl::Status s = deps_.state.PollInboxes(&events, &seqs); !s.ok()) {
      if (s.code() != absl::StatusCode::kFailedPrecondition) {
        deps_.logger.warn("reading the replicas' inboxes failed: {}", s.message());
      }
      continue;
    }
    if (!events.empty()) term->dispatcher->Submit(std::move(events), std::move(seqs));
  }
}

void Replica::Submit(std::vector<EventPtr> events, std::vector<int64_t> journal_seqs) {
  // Under mu_: a term that is starting claims nothing here (its poller
  // takes the events from the inbox), and one that has ended gets nothing.
  absl::MutexLock lock(&mu_);
  if (term_ == nullptr) {
    // In the inbox, for the leader (or for this replica's next term, which
    // reads every inbox when it starts).
    deps_.state.Forget(journal_seqs);
    return;
  }
  std::vector<int64_t> seqs;
  std::vector<EventPtr> claimed = deps_.state.Claim(events, journal_seqs, &seqs);
  if (!claimed.empty()) term_->dispatcher->Submit(std::move(claimed), std::move(seqs));
}

size_t Replica::backlog() const {
  absl::MutexLock lock(&mu_);
  return term_ != nullptr ? term_->dispatcher->backlog() : 0;
}

void Replica::SetRuleset(std::shared_ptr<const Ruleset> ruleset) {
  absl::MutexLock lock(&mu_);
  ruleset_ = ruleset;
  if (term_ != nullptr) term_->dispatcher->SetRuleset(std::move(ruleset));
}

absl::Status Replica::Replay(const std::string& flow_id) {
  std::shared_ptr<Term> term;
  {
    absl::MutexLock lock(&mu_);
    term = term_;
  }
  if (term == nullptr) {
    const std::string leader = leader_identity();
    return absl::FailedPreconditionError(absl::StrCat(
        "this replica (", identity_, ") is not the leader; replay on ",
        leader.empty() ? "the leader (none right now)" : leader));
  }
  absl::Notification done;
  absl::Status result;
  term->dispatcher->Replay(flow_id, [&](absl::Status s) {
    result = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

bool Replica::acting() const {
  absl::MutexLock lock(&mu_);
  return term_ != nullptr;
}

std::string Replica::leader_identity() const { return elector_->leader_identity(); }

std::string Replica::StatusJson() const {
  std::string out = absl::StrCat(R"({"leader":)", acting() ? "true" : "false", R"(,"identity":)");
  AppendJsonString(out, identity_);
  out += R"(,"leader_identity":)";
  AppendJsonString(out, leader_identity());
  out += "}";
  return out;
}

void Replica::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  std::shared_ptr<Term> term;
  {
    absl::MutexLock lock(&mu_);
    term = term_;
  }
  if (term != nullptr) {
    // No new call; the calls in flight end (and are recorded) within the
    // grace period; then the state is written out.
    term->dispatcher->StopCalling();
    const absl::Time deadline = absl::Now() + grace;
    while (true) {
      size_t busy = 0;
      absl::Notification counted;
      term->loop.Post([&] {
        busy = term->dispatcher->calls_in_flight();
        counted.Notify();
      });
      counted.WaitForNotification();
      if (busy == 0) break;
      if (absl::Now() >= deadline) {
        deps_.logger.warn("shutdown: {} plugin calls still running after the grace period; the "
                          "next leader calls them again",
                          busy);
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    term->loop.Flush();
    if (absl::Status s = deps_.state.Flush(absl::Seconds(5)); !s.ok()) {
      deps_.logger.warn("shutdown: {}", s.message());
    }
  }
  if (!control_.joinable()) return;  // never ran
  {
    absl::MutexLock lock(&control_mu_);
    commands_.emplace_back(Command::kStop, "");
  }
  control_.join();
  // Released only now: the successor finds the state complete.
  elector_->Stop(/*release=*/true);
}

}  // namespace hollowtrees::engine
