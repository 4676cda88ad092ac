/* edgec's parallel launcher for TVM libraries, linked into every model.so of the TVM backend.
 *
 * TVM's generated code runs a parallel loop by calling the function pointer
 * __TVMBackendParallelLaunch(lambda, closure, num_task): the lambda runs task `task_id` of
 * `penv->num_task` equal slices of the loop. TVM's own thread pool gives thread i slice i and
 * waits for every thread: when the machine is busy and one thread is not scheduled, every
 * parallel loop waits for it (a few milliseconds each, hundreds per inference). This launcher
 * cuts the loop into more slices than threads and lets the calling thread and the workers take
 * slices as they come, so a thread that is late finds the work done instead of holding it up
 * (onnxruntime's thread pool works the same way). The runner installs it with
 * edgec_threads_start(n) after loading the library; a library nobody installs it in keeps
 * TVM's pool. Compiles as C or C++ (TVM links with g++); no TVM header is needed.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
/* glibc 2.34 versioned these two anew: bind the versions every glibc has, so that a library
 * linked here also loads on a board with an older one (Debian 11, Raspberry Pi OS 11). */
#if defined(__aarch64__)
__asm__(".symver pthread_create,pthread_create@GLIBC_2.17");
__asm__(".symver pthread_join,pthread_join@GLIBC_2.17");
#elif defined(__x86_64__)
__asm__(".symver pthread_create,pthread_create@GLIBC_2.2.5");
__asm__(".symver pthread_join,pthread_join@GLIBC_2.2.5");
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    void *sync_handle;
    int32_t num_task;
} edgec_parallel_env; /* TVMParallelGroupEnv */

typedef int (*edgec_lambda)(int task_id, edgec_parallel_env *env, void *closure);
typedef int (*edgec_launch_fn)(edgec_lambda lambda, void *closure, int num_task);

/* Defined by TVM's code generator in a library with a parallel loop (set by the runtime at
 * load time); absent (weak: NULL) in a library without one, which has nothing to launch. */
extern void *__TVMBackendParallelLaunch __attribute__((weak));

#define EDGEC_MAX_THREADS 64
#define EDGEC_SLICES_PER_THREAD 4
#define EDGEC_SPINS 20000 /* polls before a worker sleeps (tens of microseconds) */
#define EDGEC_CLOSED 0xFFFFFFFFu

static struct {
    uint64_t claim;      /* generation << 32 | next slice (EDGEC_CLOSED while being set up) */
    uint32_t generation; /* the job workers wait for */
    uint32_t done;       /* slices finished of the current job */
    int32_t slices;
    int error;
    int stop;
    int sleepers;
    edgec_lambda lambda;
    void *closure;
    int threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t workers[EDGEC_MAX_THREADS];
} edgec_pool;

static void edgec_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Take slices of job `generation` until none is left. */
static void edgec_run_slices(uint32_t generation) {
    for (;;) {
        uint64_t seen = __atomic_load_n(&edgec_pool.claim, __ATOMIC_ACQUIRE);
        uint32_t index = (uint32_t)seen;
        int32_t slices = __atomic_load_n(&edgec_pool.slices, __ATOMIC_ACQUIRE);
        if ((uint32_t)(seen >> 32) != generation || index >= (uint32_t)slices) {
            return;
        }
        /* A claim that succeeds was made while the job was open: its fields are current. */
        if (!__atomic_compare_exchange_n(&edgec_pool.claim, &seen, seen + 1, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            continue;
        }
        edgec_parallel_env env;
        env.sync_handle = NULL;
        env.num_task = slices;
        if (edgec_pool.lambda((int)index, &env, edgec_pool.closure) != 0) {
            __atomic_store_n(&edgec_pool.error, 1, __ATOMIC_RELAXED);
        }
        __atomic_add_fetch(&edgec_pool.done, 1, __ATOMIC_ACQ_REL);
    }
}

static void *edgec_worker(void *unused) {
    (void)unused;
    uint32_t seen = __atomic_load_n(&edgec_pool.generation, __ATOMIC_ACQUIRE);
    for (;;) {
        int spins = 0;
        while (__atomic_load_n(&edgec_pool.generation, __ATOMIC_ACQUIRE) == seen &&
               !__atomic_load_n(&edgec_pool.stop, __ATOMIC_ACQUIRE) && spins < EDGEC_SPINS) {
            edgec_pause();
            ++spins;
        }
        if (spins == EDGEC_SPINS) {
            pthread_mutex_lock(&edgec_pool.lock);
            __atomic_add_fetch(&edgec_pool.sleepers, 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&edgec_pool.generation, __ATOMIC_SEQ_CST) == seen &&
                   !edgec_pool.stop) {
                pthread_cond_wait(&edgec_pool.wake, &edgec_pool.lock);
            }
            __atomic_sub_fetch(&edgec_pool.sleepers, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&edgec_pool.lock);
        }
        if (__atomic_load_n(&edgec_pool.stop, __ATOMIC_ACQUIRE)) {
            return NULL;
        }
        seen = __atomic_load_n(&edgec_pool.generation, __ATOMIC_ACQUIRE);
        edgec_run_slices(seen);
    }
}

static int edgec_parallel_launch(edgec_lambda lambda, void *closure, int num_task) {
    (void)num_task; /* TVM's code asks for "all threads" (0); the slices are ours to choose */
    if (edgec_pool.threads <= 1) {
        edgec_parallel_env env;
        env.sync_handle = NULL;
        env.num_task = 1;
        return lambda(0, &env, closure) == 0 ? 0 : -1;
    }
    uint32_t generation = edgec_pool.generation + 1;
    int32_t slices = edgec_pool.threads * EDGEC_SLICES_PER_THREAD;
    __atomic_store_n(&edgec_pool.claim, ((uint64_t)generation << 32) | EDGEC_CLOSED,
                     __ATOMIC_SEQ_CST);
    edgec_pool.lambda = lambda;
    edgec_pool.closure = closure;
    edgec_pool.error = 0;
    __atomic_store_n(&edgec_pool.done, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&edgec_pool.slices, slices, __ATOMIC_RELEASE);
    __atomic_store_n(&edgec_pool.claim, (uint64_t)generation << 32, __ATOMIC_RELEASE);
    __atomic_store_n(&edgec_pool.generation, generation, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&edgec_pool.sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&edgec_pool.lock);
        pthread_cond_broadcast(&edgec_pool.wake);
        pthread_mutex_unlock(&edgec_pool.lock);
    }
    edgec_run_slices(generation);
    /* Only slices a worker has started are left: wait for them. */
    int spins = 0;
    while (__atomic_load_n(&edgec_pool.done, __ATOMIC_ACQUIRE) != (uint32_t)slices) {
        if (++spins < EDGEC_SPINS) {
            edgec_pause();
        } else {
            sched_yield();
        }
    }
    return __atomic_load_n(&edgec_pool.error, __ATOMIC_RELAXED) ? -1 : 0;
}

static void edgec_threads_stop(void) {
    int started = edgec_pool.threads - 1;
    if (started <= 0) {
        return;
    }
    pthread_mutex_lock(&edgec_pool.lock);
    __atomic_store_n(&edgec_pool.stop, 1, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&edgec_pool.wake);
    pthread_mutex_unlock(&edgec_pool.lock);
    for (int i = 0; i < started; ++i) {
        pthread_join(edgec_pool.workers[i], NULL);
    }
    edgec_pool.stop = 0;
    edgec_pool.threads = 1;
}

/* Run this library's parallel loops on `threads` threads (the caller's and threads - 1
 * workers) with edgec's launcher. Returns the thread count, or -1 if a worker could not
 * start. Call it after the TVM runtime has loaded the library, from one thread, between
 * inferences. */
int edgec_threads_start(int threads) {
    static int initialized = 0;
    if (!initialized) {
        pthread_mutex_init(&edgec_pool.lock, NULL);
        pthread_cond_init(&edgec_pool.wake, NULL);
        edgec_pool.threads = 1;
        initialized = 1;
    }
    if (threads < 1) {
        threads = 1;
    }
    if (threads > EDGEC_MAX_THREADS) {
        threads = EDGEC_MAX_THREADS;
    }
    edgec_threads_stop();
    for (int i = 0; i < threads - 1; ++i) {
        if (pthread_create(&edgec_pool.workers[i], NULL, edgec_worker, NULL) != 0) {
            edgec_pool.threads = i + 1;
            edgec_threads_stop();
            return -1;
        }
        edgec_pool.threads = i + 2;
    }
    edgec_pool.threads = threads;
    edgec_launch_fn launch = edgec_parallel_launch;
    if (&__TVMBackendParallelLaunch != NULL) {
        __TVMBackendParallelLaunch = (void *)launch;
    }
    return threads;
}

#ifdef __cplusplus
}
#endif
