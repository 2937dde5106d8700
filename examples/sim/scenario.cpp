#include "examples/sim/scenario.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace bb::sim {

using nlohmann::json;

namespace {

template <class T>
void take(const json& j, const char* key, T& out, const std::string& where) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw std::runtime_error("scenario: " + where + "." + key + ": " + e.what());
  }
}

void check_keys(const json& j, std::initializer_list<const char*> known, const std::string& where) {
  if (!j.is_object()) throw std::runtime_error("scenario: " + where + " must be an object");
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok)
      throw std::runtime_error((where == "scenario" ? where : "scenario: " + where) +
                               ": unknown field \"" + key + "\"");
  }
}

LinkSpec parse_link(const json& j, LinkSpec spec, const std::string& where) {
  check_keys(j, {"latency_ms", "bandwidth_mbps", "loss", "loss_delay_ms", "window_kib"}, where);
  if (j.contains("latency_ms")) {
    const auto& l = j.at("latency_ms");
    if (l.is_number()) {
      spec.latency_ms_min = spec.latency_ms_max = l.get<double>();
    } else if (l.is_array() && l.size() == 2 && l[0].is_number() && l[1].is_number()) {
      spec.latency_ms_min = l[0].get<double>();
      spec.latency_ms_max = l[1].get<double>();
    } else {
      throw std::runtime_error("scenario: " + where + ".latency_ms: a number or [min, max]");
    }
  }
  take(j, "bandwidth_mbps", spec.bandwidth_mbps, where);
  take(j, "loss", spec.loss, where);
  take(j, "loss_delay_ms", spec.loss_delay_ms, where);
  take(j, "window_kib", spec.window_kib, where);
  if (spec.latency_ms_min < 0 || spec.latency_ms_max < spec.latency_ms_min)
    throw std::runtime_error("scenario: " + where + ".latency_ms: need 0 <= min <= max");
  if (spec.loss < 0 || spec.loss >= 1)
    throw std::runtime_error("scenario: " + where + ".loss: need 0 <= loss < 1");
  if (spec.bandwidth_mbps < 0)
    throw std::runtime_error("scenario: " + where + ".bandwidth_mbps < 0");
  if (spec.window_kib == 0) throw std::runtime_error("scenario: " + where + ".window_kib: 0");
  return spec;
}

Event parse_event(const json& j, std::size_t i) {
  const std::string where = "events[" + std::to_string(i) + "]";
  check_keys(j, {"at_ms", "publish", "partition", "heal", "kill", "restart", "lookups", "label"},
             where);
  Event e;
  take(j, "at_ms", e.at_ms, where);
  take(j, "label", e.label, where);
  int kinds = 0;
  auto body = [&](const char* name, Event::Kind kind) -> const json* {
    if (!j.contains(name)) return nullptr;
    ++kinds;
    e.kind = kind;
    return &j.at(name);
  };
  if (const json* b = body("publish", Event::Kind::publish)) {
    check_keys(*b, {"count", "every_ms", "bytes"}, where + ".publish");
    take(*b, "count", e.count, where + ".publish");
    take(*b, "every_ms", e.every_ms, where + ".publish");
    take(*b, "bytes", e.bytes, where + ".publish");
    if (e.bytes < 16)
      throw std::runtime_error("scenario: " + where + ".publish.bytes: at least 16");
  }
  if (const json* b = body("partition", Event::Kind::partition)) {
    check_keys(*b, {"fraction"}, where + ".partition");
    take(*b, "fraction", e.fraction, where + ".partition");
  }
  if (body("heal", Event::Kind::heal) != nullptr) {
  }
  if (const json* b = body("kill", Event::Kind::kill)) {
    check_keys(*b, {"fraction"}, where + ".kill");
    take(*b, "fraction", e.fraction, where + ".kill");
  }
  if (body("restart", Event::Kind::restart) != nullptr) {
  }
  if (const json* b = body("lookups", Event::Kind::lookups)) {
    check_keys(*b, {"count", "every_ms"}, where + ".lookups");
    take(*b, "count", e.count, where + ".lookups");
    take(*b, "every_ms", e.every_ms, where + ".lookups");
  }
  if (kinds != 1)
    throw std::runtime_error("scenario: " + where +
                             ": exactly one of publish, partition, heal, kill, restart, lookups");
  if (e.fraction < 0 || e.fraction > 1)
    throw std::runtime_error("scenario: " + where + ": fraction must be in [0, 1]");
  if (e.every_ms < 0) throw std::runtime_error("scenario: " + where + ": every_ms < 0");
  if (e.label.empty())
    e.label = to_string(e.kind) + "@" + std::to_string(static_cast<long long>(e.at_ms)) + "ms";
  return e;
}

}  // namespace

std::string to_string(Event::Kind kind) {
  switch (kind) {
    case Event::Kind::publish: return "publish";
    case Event::Kind::partition: return "partition";
    case Event::Kind::heal: return "heal";
    case Event::Kind::kill: return "kill";
    case Event::Kind::restart: return "restart";
    case Event::Kind::lookups: return "lookups";
  }
  return "?";
}

LinkParams to_params(const LinkSpec& spec) {
  LinkParams p;
  p.latency_ns = static_cast<std::uint64_t>(spec.latency_ms_min * 1e6);
  p.bandwidth_bps = static_cast<std::uint64_t>(spec.bandwidth_mbps * 1e6);
  p.loss = spec.loss;
  p.loss_delay_ns = static_cast<std::uint64_t>(spec.loss_delay_ms * 1e6);
  p.window_bytes = spec.window_kib * 1024;
  return p;
}

Scenario default_scenario() {
  Scenario s;
  Event lookups;
  lookups.kind = Event::Kind::lookups;
  lookups.at_ms = 20'000;
  lookups.count = 50;
  lookups.every_ms = 100;
  lookups.label = "lookups";
  Event publish;
  publish.kind = Event::Kind::publish;
  publish.at_ms = 30'000;
  publish.count = 50;
  publish.every_ms = 200;
  publish.bytes = 256;
  publish.label = "gossip";
  s.events = {lookups, publish};
  s.end_ms = 45'000;
  return s;
}

Scenario parse_scenario(const std::string& json_text) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("scenario: not JSON: ") + e.what());
  }
  check_keys(
      j,
      {"name", "nodes", "seed", "bootstrap_nodes", "bootstrap_per_host", "join_spread_ms", "end_ms",
       "topic", "link", "classes", "ping_interval_ms", "connect_timeout_ms", "mesh", "events"},
      "scenario");
  Scenario s;
  s.events.clear();
  const std::string w = "scenario";
  take(j, "name", s.name, w);
  take(j, "nodes", s.nodes, w);
  take(j, "seed", s.seed, w);
  take(j, "bootstrap_nodes", s.bootstrap_nodes, w);
  take(j, "bootstrap_per_host", s.bootstrap_per_host, w);
  take(j, "join_spread_ms", s.join_spread_ms, w);
  take(j, "end_ms", s.end_ms, w);
  take(j, "topic", s.topic, w);
  take(j, "ping_interval_ms", s.ping_interval_ms, w);
  take(j, "connect_timeout_ms", s.connect_timeout_ms, w);
  if (j.contains("link")) s.link = parse_link(j.at("link"), s.link, "link");
  if (j.contains("classes")) {
    if (!j.at("classes").is_array()) throw std::runtime_error("scenario: classes must be a list");
    std::size_t i = 0;
    for (const auto& c : j.at("classes")) {
      const std::string where = "classes[" + std::to_string(i++) + "]";
      check_keys(c, {"name", "fraction", "link"}, where);
      HostClass hc;
      take(c, "name", hc.name, where);
      take(c, "fraction", hc.fraction, where);
      if (hc.fraction < 0 || hc.fraction > 1)
        throw std::runtime_error("scenario: " + where + ".fraction must be in [0, 1]");
      hc.link = c.contains("link") ? parse_link(c.at("link"), s.link, where + ".link") : s.link;
      s.classes.push_back(std::move(hc));
    }
  }
  if (j.contains("mesh")) {
    const auto& m = j.at("mesh");
    check_keys(m, {"D", "D_low", "D_high", "D_lazy"}, "mesh");
    take(m, "D", s.mesh_d, "mesh");
    take(m, "D_low", s.mesh_d_low, "mesh");
    take(m, "D_high", s.mesh_d_high, "mesh");
    take(m, "D_lazy", s.mesh_d_lazy, "mesh");
  }
  if (j.contains("events")) {
    if (!j.at("events").is_array()) throw std::runtime_error("scenario: events must be a list");
    for (std::size_t i = 0; i < j.at("events").size(); ++i)
      s.events.push_back(parse_event(j.at("events")[i], i));
  }
  if (s.nodes == 0) throw std::runtime_error("scenario: nodes must be at least 1");
  if (s.nodes > 1'000'000) throw std::runtime_error("scenario: nodes: at most 1,000,000");
  if (s.bootstrap_nodes == 0)
    throw std::runtime_error("scenario: bootstrap_nodes must be at least 1");
  if (s.ping_interval_ms <= 0) throw std::runtime_error("scenario: ping_interval_ms must be > 0");
  return s;
}

}  // namespace bb::sim
