// gopp/singleflight.hpp: duplicate call suppression. Go: golang.org/x/sync/singleflight.
//
//   gopp::singleflight::group<std::string, std::string> flights;
//   // A thousand workers miss the cache for the same key: fetch runs once, all get its page.
//   auto [page, shared] = flights.do_(url, [&] { return fetch(url); });
//   // Or without waiting: a channel that receives the flight's result.
//   gopp::recv_chan<gopp::singleflight::result<std::string>> ch = flights.do_chan(url, fetch_it);
//
// Contract (Go's Group):
//   - do_(key, fn) (Go's Do; `do` is a C++ keyword): if no flight for key is in progress, runs fn
//     on the calling goroutine or thread and returns its value; if one is, waits for it (parking
//     the goroutine, blocking a thread) and returns a copy of that flight's value. `shared` is
//     true when the value went to more than one caller (Go: for the caller that ran fn, true
//     when others joined its flight; always true for those who joined).
//   - If fn throws, every caller of that flight gets the same exception rethrown (Go re-panics
//     in each caller), and do_chan's receivers find it in result::err. The next call for the key
//     starts a new flight.
//   - do_chan(key, fn) (Go's DoChan): as do_, but returns at once a channel (capacity 1) that
//     receives the result; a new flight runs fn on a new goroutine.
//   - forget(key) (Go's Forget): calls for key from now on start a new flight instead of joining
//     the one in progress, which still delivers to those who joined it.
//   - The flight's end (fn's return or exception) happens-before each of its callers returns.
//   - V must be copy-constructible (each caller gets its own copy: use a shared_ptr<const T>
//     when a copy is dear); K hashable with Hash and comparable with KeyEqual. The group must
//     outlive every flight that do_chan started.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gopp/chan.hpp"
#include "gopp/go.hpp"
#include "gopp/sync.hpp"

namespace gopp::singleflight {

// Go: singleflight.Result. Exactly one of val and err is set.
template <class V>
struct result {
  std::optional<V> val;    // fn's value, unless it threw
  std::exception_ptr err;  // fn's exception, if it threw
  bool shared = false;     // the value went to more than one caller
};

// Go: singleflight.Group.
template <class K, class V, class Hash = std::hash<K>, class KeyEqual = std::equal_to<K>>
class group {
 public:
  // What do_ returns (Go: v, shared; the error is the exception).
  struct outcome {
    V val;
    bool shared;
  };

  group() = default;
  group(const group&) = delete;
  group& operator=(const group&) = delete;

  // Go: g.Do(key, fn).
  template <class F>
  requires std::is_invocable_r_v<V, F&> outcome do_(const K& key, F&& fn) {
    std::unique_lock lock(mu_);
    if (auto it = flights_.find(key); it != flights_.end()) {
      std::shared_ptr<call> c = it->second;
      ++c->dups;
      lock.unlock();
      c->finished.wait();
      if (c->err) std::rethrow_exception(c->err);
      return {*c->val, true};
    }
    auto c = std::make_shared<call>();
    c->finished.add(1);
    flights_.emplace(key, c);
    lock.unlock();
    run(c, key, fn);
    if (c->err) std::rethrow_exception(c->err);
    return {*c->val, c->dups > 0};  // dups is final: the flight has left the map (under mu_)
  }

  // Go: g.DoChan(key, fn).
  template <class F>
  requires std::is_invocable_r_v < V, std::decay_t<F>
  & > recv_chan<result<V>> do_chan(const K& key, F&& fn) {
    chan<result<V>> ch(1);
    std::unique_lock lock(mu_);
    if (auto it = flights_.find(key); it != flights_.end()) {
      ++it->second->dups;
      it->second->chans.push_back(ch);
      return ch;
    }
    auto c = std::make_shared<call>();
    c->finished.add(1);
    c->chans.push_back(ch);
    flights_.emplace(key, c);
    lock.unlock();
    gopp::go(
        [this, c, key, f = std::decay_t<F>(std::forward<F>(fn))]() mutable { run(c, key, f); });
    return ch;
  }

  // Go: g.Forget(key).
  void forget(const K& key) {
    std::lock_guard lock(mu_);
    flights_.erase(key);
  }

 private:
  // One flight: fn running for a key, and who waits for it.
  struct call {
    wait_group finished;   // done() when val or err is set
    std::optional<V> val;  // written by the runner before finished.done()
    std::exception_ptr err;
    std::size_t dups = 0;                     // callers that joined (guarded by mu_)
    std::vector<send_chan<result<V>>> chans;  // do_chan callers (guarded by mu_)
  };

  template <class F>
  void run(const std::shared_ptr<call>& c, const K& key, F& fn) {
    try {
      c->val.emplace(std::invoke(fn));
    } catch (...) {
      c->err = std::current_exception();
    }
    std::lock_guard lock(mu_);
    c->finished.done();
    if (auto it = flights_.find(key); it != flights_.end() && it->second == c) flights_.erase(it);
    // Capacity 1 and one value each: these sends never block.
    for (auto& ch : c->chans) ch.send(result<V>{c->val, c->err, c->dups > 0});
  }

  mutex mu_;
  std::unordered_map<K, std::shared_ptr<call>, Hash, KeyEqual> flights_;  // guarded by mu_
};

}  // namespace gopp::singleflight
