#include "bb/dht/lookup.hpp"

#include <algorithm>

namespace bb::dht {

Lookup::Lookup(Key target, wire::PeerId self, const std::vector<wire::PeerId>& seeds,
               Options options)
    : target_(target), self_(std::move(self)), options_(options) {
  if (options_.k == 0) options_.k = 1;
  if (options_.alpha == 0) options_.alpha = 1;
  for (const auto& s : seeds) insert(s, 1);
}

Lookup::Peer* Lookup::find(const wire::PeerId& id) {
  for (auto& p : peers_)
    if (p.id == id) return &p;
  return nullptr;
}

void Lookup::insert(const wire::PeerId& id, std::size_t depth) {
  if (id == self_ || find(id) != nullptr) return;
  Key key = Key::of(id);
  auto pos = std::lower_bound(peers_.begin(), peers_.end(), key, [&](const Peer& p, const Key& k) {
    return closer(target_, p.key, k);
  });
  const std::size_t cap = options_.k * 4;
  if (static_cast<std::size_t>(pos - peers_.begin()) >= cap) return;  // farther than all kept
  peers_.insert(pos, Peer{id, key, State::candidate, depth});
  // Drop the farthest candidates beyond the bound (never one in flight or answered).
  while (peers_.size() > cap) {
    auto it = std::find_if(peers_.rbegin(), peers_.rend(),
                           [](const Peer& p) { return p.state == State::candidate; });
    if (it == peers_.rend()) break;
    peers_.erase(std::next(it).base());
  }
}

std::vector<wire::PeerId> Lookup::next() {
  std::vector<wire::PeerId> out;
  if (finished_) return out;
  // Only the k closest not-failed peers matter; ask candidates among them first.
  std::size_t live = 0;
  for (auto& p : peers_) {
    if (in_flight_ >= options_.alpha || live >= options_.k) break;
    if (p.state == State::failed) continue;
    ++live;
    if (p.state != State::candidate || p.depth > options_.max_hops) continue;
    p.state = State::in_flight;
    ++in_flight_;
    ++queried_;
    out.push_back(p.id);
  }
  return out;
}

void Lookup::on_answer(const wire::PeerId& from, const std::vector<wire::PeerId>& closer_peers) {
  Peer* p = find(from);
  if (p == nullptr || p->state != State::in_flight) return;
  p->state = State::answered;
  --in_flight_;
  ++answered_;
  const std::size_t depth = p->depth;
  hops_ = std::max(hops_, depth);
  for (const auto& c : closer_peers) insert(c, depth + 1);
}

void Lookup::on_failure(const wire::PeerId& from) {
  Peer* p = find(from);
  if (p == nullptr || p->state != State::in_flight) return;
  p->state = State::failed;
  --in_flight_;
  ++failed_;
}

bool Lookup::done() const {
  if (finished_) return true;
  // Done when the k closest live peers have all answered (none is a candidate we could still
  // ask, none is in flight), or no one is left to ask.
  std::size_t live = 0;
  for (const auto& p : peers_) {
    if (live >= options_.k) break;
    if (p.state == State::failed) continue;
    ++live;
    if (p.state == State::in_flight) return false;
    if (p.state == State::candidate && p.depth <= options_.max_hops) return false;
  }
  return in_flight_ == 0;
}

std::vector<wire::PeerId> Lookup::closest() const {
  std::vector<wire::PeerId> out;
  for (const auto& p : peers_) {
    if (out.size() >= options_.k) break;
    if (p.state == State::answered) out.push_back(p.id);
  }
  return out;
}

}  // namespace bb::dht
