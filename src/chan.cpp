// The non-template parts of channels: misuse errors with Go's messages, waking a close()'s
// waiters, and blocking forever.
#include <stdexcept>

#include "gopp/chan.hpp"
#include "gopp/go.hpp"

namespace gopp::detail {

void throw_send_on_closed() {
  throw closed_channel_error("send on closed channel");
}
void throw_close_of_closed() {
  throw closed_channel_error("close of closed channel");
}
void throw_close_of_nil() {
  throw nil_channel_error("close of nil channel");
}
void throw_negative_capacity() {
  throw std::invalid_argument("makechan: size out of range");
}

void wake_all(waiter* list) noexcept {
  while (list) {
    waiter* next = list->next;  // read before complete(): the waiter may be gone after it
    list->sel->complete();
    list = next;
  }
}

void block_forever(wait_reason reason) {
  parker& p = current_parker();
  for (;;) {
    set_wait_reason(reason);
    p.park();  // tokens may arrive (stale wake-ups); nothing ever ends this wait
  }
}

}  // namespace gopp::detail
