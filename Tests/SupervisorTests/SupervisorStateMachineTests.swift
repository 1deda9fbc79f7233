import Glibc
import Testing

@testable import Supervisor

/// The supervisor's decisions, driven without processes: the harness plays
/// the poll loop (spawning gives the next pid) and moves a clock of its own.
struct SupervisorHarness {
    typealias Action = SupervisorStateMachine.Action
    var machine: SupervisorStateMachine
    var now = ContinuousClock.now
    var nextPID: pid_t = 100
    var failSpawns = false
    /// Everything done so far, in order (spawns appear as the pid they got, or 0).
    var done: [Action] = []
    var exitStatus: Int32?

    init(slots: Int, policy: Supervisor.Policy = .init(workerTimeout: .seconds(30), gracefulTimeout: .seconds(10), shutdownDelay: .seconds(2))) {
        machine = SupervisorStateMachine(slots: slots, policy: policy)
        perform(machine.start())
    }

    mutating func perform(_ actions: [Action]) {
        for action in actions {
            done.append(action)
            switch action {
            case .spawn(let slot):
                if failSpawns {
                    perform(machine.spawnFailed(slot: slot, now: now))
                } else {
                    nextPID += 1
                    perform(machine.spawned(slot: slot, pid: nextPID, now: now))
                }
            case .reloadConfiguration:
                perform(machine.reloaded(machine.policy))
            case .exit(let status):
                exitStatus = status
            default:
                break
            }
        }
    }

    /// Moves the clock and runs the timer.
    mutating func advance(_ duration: Duration = .milliseconds(10)) {
        now += duration
        perform(machine.tick(now: now))
    }

    mutating func ready(_ pid: pid_t) { perform(machine.ready(pid: pid, now: now)); advance() }
    mutating func exit(_ pid: pid_t, _ how: String = "status=1") { perform(machine.exited(pid: pid, exit: how, now: now)); advance() }
    mutating func sighup() { perform(machine.reload()); advance() }
    mutating func sigterm() { perform(machine.stop(signal: SIGTERM, now: now)); advance() }

    /// Every worker the machine tracks as ready and heartbeating, so that booting slots get ready.
    mutating func readyAll() {
        for worker in machine.allWorkers where !worker.isReady && worker.killAt == nil { ready(worker.pid) }
    }

    func pid(ofSlot slot: Int) -> pid_t? { machine.slots[slot].worker?.pid }
    func successor(ofSlot slot: Int) -> pid_t? { machine.slots[slot].successor?.pid }

    /// The actions done since `mark` (an index into `done`).
    func since(_ mark: Int) -> [Action] { Array(done[mark...]) }
    func signals(_ signal: CInt, since mark: Int = 0) -> [pid_t] {
        since(mark).compactMap { if case .signal(let pid, signal) = $0 { pid } else { nil } }
    }
    func notifications(since mark: Int = 0) -> [SupervisorStateMachine.Notification] {
        since(mark).compactMap { if case .notify(let notification) = $0 { notification } else { nil } }
    }
    func logged(_ text: String, since mark: Int = 0) -> Bool {
        since(mark).contains { if case .log(_, let message, _) = $0 { message.contains(text) } else { false } }
    }
}

@Suite struct SupervisorStateMachineTests {
    @Test func startSpawnsEverySlotAndAnnouncesReadyOnceWhenAllAreReady() {
        var harness = SupervisorHarness(slots: 2)
        #expect(harness.pid(ofSlot: 0) == 101 && harness.pid(ofSlot: 1) == 102)
        harness.ready(101)
        #expect(!harness.done.contains(.announceReady), "one slot of two is not served")
        harness.ready(102)
        #expect(harness.done.filter { $0 == .announceReady }.count == 1)
        #expect(harness.notifications().contains(.ready))
        harness.advance()
        #expect(harness.done.filter { $0 == .announceReady }.count == 1, "announced once")
    }

    @Test func aCrashAfterBootRestartsTheSlotAtOnceAndCountsItAsCrashed() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        harness.now += .seconds(60)
        harness.exit(101, "signal=9")
        #expect(harness.pid(ofSlot: 0) == 103, "restarted in the next tick")
        #expect(harness.machine.restarts[0]?[.crashed] == 1)
        #expect(harness.machine.slots[0].quickFailures == 0)
    }

    @Test func bootFailuresBackOffExponentiallyAndTheSupervisorGivesUpWhenEverySlotKeepsFailing() {
        var harness = SupervisorHarness(slots: 1)
        var delays: [Duration] = []
        for _ in 1...5 {
            let pid = harness.pid(ofSlot: 0)!
            let started = harness.now
            harness.exit(pid)
            while harness.pid(ofSlot: 0) == nil && harness.exitStatus == nil { harness.advance(.milliseconds(50)) }
            delays.append(harness.now - started)
        }
        #expect(harness.machine.slots[0].quickFailures == 5)
        // 100, 200, 400, 800 ms, then the fifth failure gives up instead.
        for (delay, expected) in zip(delays, [100, 200, 400, 800]) {
            #expect(delay >= .milliseconds(expected) && delay < .milliseconds(expected + 100), "\(delays)")
        }
        #expect(harness.exitStatus == 1)
        #expect(harness.logged("giving up"))
    }

    @Test func aReadyWorkerResetsTheBootFailures() {
        var harness = SupervisorHarness(slots: 1)
        harness.exit(101)
        harness.advance(.milliseconds(200))
        #expect(harness.machine.slots[0].quickFailures == 1)
        harness.ready(harness.pid(ofSlot: 0)!)
        #expect(harness.machine.slots[0].quickFailures == 0)
    }

    @Test func aWorkerThatMissesHeartbeatsIsKilledOnceAndRestartsAsUnresponsive() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        for _ in 0..<40 {
            harness.machine.heartbeat(pid: 102, now: harness.now)
            harness.advance(.seconds(1))
        }
        #expect(harness.signals(SIGKILL) == [101], "killed once, the heartbeating one spared")
        harness.exit(101, "signal=9")
        #expect(harness.machine.restarts[0]?[.unresponsive] == 1)
        #expect(harness.pid(ofSlot: 0) == 103)
    }

    @Test func sighupReplacesOneSlotAtATimeThenNotifiesReady() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        let mark = harness.done.count
        harness.sighup()
        #expect(harness.notifications(since: mark).first == .reloading)
        #expect(harness.successor(ofSlot: 0) == 103 && harness.successor(ofSlot: 1) == nil, "one slot at a time")
        harness.ready(103)
        #expect(harness.pid(ofSlot: 0) == 103)
        #expect(harness.signals(SIGTERM, since: mark) == [101], "the old worker retires once its successor is ready")
        #expect(harness.successor(ofSlot: 1) == 104)
        harness.ready(104)
        #expect(harness.signals(SIGTERM, since: mark) == [101, 102])
        #expect(harness.machine.phase == .running)
        #expect(harness.notifications(since: mark).last == .ready)
        #expect(harness.machine.restarts[0]?[.reloaded] == 1 && harness.machine.restarts[1]?[.reloaded] == 1)
        harness.exit(101, "status=0")
        harness.exit(102, "status=0")
        #expect(harness.machine.allWorkers.map(\.pid).sorted() == [103, 104], "retired workers are not restarted")
    }

    @Test func sighupDuringAReloadRunsOnceTheCurrentOneIsDone() {
        var harness = SupervisorHarness(slots: 1)
        harness.readyAll()
        harness.sighup()
        harness.sighup()
        harness.sighup()
        #expect(harness.machine.phase == .reloading(again: true))
        #expect(harness.notifications().filter { $0 == .reloading }.count == 1)
        harness.ready(102)
        #expect(harness.notifications().filter { $0 == .reloading }.count == 2, "the second reload starts when the first is done")
        harness.advance()
        #expect(harness.successor(ofSlot: 0) == 103)
        harness.ready(103)
        #expect(harness.machine.phase == .running)
        #expect(harness.notifications().filter { $0 == .reloading }.count == 2, "three SIGHUPs: two reloads")
    }

    @Test func aSuccessorCrashDuringAReloadAbandonsItAndTheOldWorkersKeepServing() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        harness.sighup()
        let mark = harness.done.count
        harness.exit(103)
        #expect(harness.machine.phase == .running)
        #expect(harness.pid(ofSlot: 0) == 101 && harness.pid(ofSlot: 1) == 102)
        #expect(harness.signals(SIGTERM).isEmpty)
        #expect(harness.logged("replacement stopped"))
        #expect(harness.notifications(since: mark).contains(.ready))
    }

    @Test func aSuccessorThatCannotBeSpawnedAbandonsTheReload() {
        var harness = SupervisorHarness(slots: 1)
        harness.readyAll()
        harness.failSpawns = true
        harness.sighup()
        #expect(harness.machine.phase == .running)
        #expect(harness.pid(ofSlot: 0) == 101)
        #expect(harness.machine.slots[0].restartAt == nil, "the serving worker is not replaced behind its back")
    }

    @Test func aFailedReloadKeepsThePolicyAndNotifiesReady() {
        var harness = SupervisorHarness(slots: 1)
        harness.readyAll()
        harness.perform(harness.machine.reloadFailed("JWT_SECRET is too short"))
        #expect(harness.machine.phase == .running)
        #expect(harness.notifications().last == .ready)
        #expect(harness.logged("keeping the running configuration"))
    }

    @Test func sigtermDuringAReloadRetiresTheSuccessorAndDrainsEveryWorker() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        harness.sighup()
        let mark = harness.done.count
        harness.sigterm()
        #expect(harness.signals(SIGTERM, since: mark) == [103], "the successor stops at once")
        #expect(harness.since(mark).contains(.send(.drain, to: 101)) && harness.since(mark).contains(.send(.drain, to: 102)))
        #expect(harness.machine.isStopping)
        harness.ready(103)
        #expect(harness.successor(ofSlot: 0) == nil && harness.since(mark).allSatisfy { $0 != .spawn(slot: 0) }, "nothing new starts while stopping")
    }

    @Test func sigtermDrainsThenTerminatesThenKillsAtTheDeadlineAndExitsWhenAllAreGone() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        harness.sigterm()
        #expect(harness.notifications().contains(.stopping))
        #expect(harness.signals(SIGTERM).isEmpty, "draining for SHUTDOWN_DELAY first")
        harness.advance(.seconds(2))
        #expect(harness.signals(SIGTERM).sorted() == [101, 102])
        harness.exit(101, "status=0")
        #expect(harness.pid(ofSlot: 0) == nil, "no restart while stopping")
        harness.advance(.seconds(13))
        #expect(harness.signals(SIGKILL).contains(102), "killed past GRACEFUL_TIMEOUT + margin")
        #expect(harness.exitStatus == nil)
        harness.exit(102, "signal=9")
        #expect(harness.exitStatus == 0)
    }

    @Test func aDeadSlotIsCoveredByAReadyWorkerAndUncoveredWhenItsOwnWorkerIsReady() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        harness.now += .seconds(60)
        harness.exit(101)
        #expect(harness.done.contains(.send(.cover(slot: 0), to: 102)))
        let restarted = harness.pid(ofSlot: 0)!
        harness.ready(restarted)
        #expect(harness.done.contains(.send(.uncover(slot: 0), to: 102)))
        #expect(harness.machine.slots[1].worker?.covering.isEmpty == true)
    }

    @Test func aBootingWorkerIsCoveredOnlyAfterTheGrace() {
        var harness = SupervisorHarness(slots: 2)
        harness.ready(102)
        #expect(!harness.done.contains(.send(.cover(slot: 0), to: 102)), "booting for less than a second")
        harness.advance(.seconds(1))
        #expect(harness.done.contains(.send(.cover(slot: 0), to: 102)))
    }

    @Test func recycleReplacesOnlyThatSlotAndCountsItAsRecycled() {
        var harness = SupervisorHarness(slots: 2)
        harness.readyAll()
        harness.perform(harness.machine.recycle(pid: 102))
        harness.advance()
        #expect(harness.successor(ofSlot: 1) == 103 && harness.successor(ofSlot: 0) == nil)
        harness.ready(103)
        #expect(harness.signals(SIGTERM) == [102])
        #expect(harness.machine.restarts[1]?[.recycled] == 1)
        #expect(harness.machine.phase == .running)
    }

    @Test func aRetiredWorkerThatOutlivesGracefulTimeoutIsKilled() {
        var harness = SupervisorHarness(slots: 1)
        harness.readyAll()
        harness.sighup()
        harness.ready(102)
        harness.advance(.seconds(11))
        #expect(harness.signals(SIGKILL).isEmpty)
        harness.advance(.seconds(2))
        #expect(harness.signals(SIGKILL) == [101], "killed once at GRACEFUL_TIMEOUT + 2 s")
        harness.advance(.seconds(5))
        #expect(harness.signals(SIGKILL) == [101])
    }

    @Test func sigusr1ReopensTheLogAndSignalsEveryWorker() {
        var harness = SupervisorHarness(slots: 2)
        harness.perform(harness.machine.reopenLogs())
        #expect(harness.done.contains(.reopenLog))
        #expect(harness.signals(SIGUSR1).sorted() == [101, 102])
    }
}
