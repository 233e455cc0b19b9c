// gopp: Go's concurrency model for C++20. The umbrella header: it includes the rest.
#pragma once

#include "gopp/chan.hpp"
#include "gopp/context.hpp"
#include "gopp/defer.hpp"
#include "gopp/duration.hpp"
#include "gopp/go.hpp"
#include "gopp/log.hpp"
#include "gopp/pool.hpp"
#include "gopp/rate.hpp"
#include "gopp/select.hpp"
#include "gopp/semaphore.hpp"
#include "gopp/singleflight.hpp"
#include "gopp/sync.hpp"
#include "gopp/time.hpp"
