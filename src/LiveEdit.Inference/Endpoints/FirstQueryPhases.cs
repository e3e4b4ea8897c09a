using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// Logs, at Information, where the first few <c>POST /query</c> requests after start spent their time (the warm-up's
/// included): authentication and the rest of the middleware, the form, the image, the model, the record and the answer's
/// JSON, each with the time the JIT compiler took in it (process-wide) and the garbage collections it saw. A query
/// after ready should cost what any later one does; these lines say what a first one still pays when it does not.
/// </summary>
public sealed class FirstQueryPhases(ILogger<FirstQueryPhases> log)
{
    /// <summary>How many queries after start are timed by phase.</summary>
    public const int Logged = 6;

    private static readonly object Key = new();
    private int _seen;

    /// <summary>Starts timing the request when it is one of the first <see cref="Logged"/>; otherwise does nothing.</summary>
    public void Begin(HttpContext http)
    {
        if (Volatile.Read(ref _seen) >= Logged) return;
        var number = Interlocked.Increment(ref _seen);
        if (number > Logged) return;
        http.Items[Key] = new Marks(number);
    }

    /// <summary>Ends the phase that ran since the last mark and names it <paramref name="phase"/> (nothing when the request is not timed).</summary>
    public static void Mark(HttpContext http, string phase)
    {
        if (http.Items.TryGetValue(Key, out var marks) && marks is Marks m) m.Mark(phase);
    }

    /// <summary>Ends the last phase (<paramref name="phase"/>) and logs the request's line.</summary>
    public void End(HttpContext http, string phase)
    {
        if (!http.Items.TryGetValue(Key, out var marks) || marks is not Marks m) return;
        m.Mark(phase);
        log.LogInformation("Query {Number} after start ({Caller}, status {Status}): {Phases}", m.Number,
            QueryEndpoints.IsWarmUp(http) ? "warm-up" : "client", http.Response.StatusCode, m.Describe());
    }

    private sealed class Marks(int number)
    {
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly int[] _gcAtStart = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        private readonly List<(string Phase, long At, TimeSpan Jit, long Methods)> _phases = [];
        private long _last = Stopwatch.GetTimestamp();
        private TimeSpan _lastJit = System.Runtime.JitInfo.GetCompilationTime();
        private long _lastMethods = System.Runtime.JitInfo.GetCompiledMethodCount();

        public int Number { get; } = number;

        public void Mark(string phase)
        {
            var now = Stopwatch.GetTimestamp();
            var jit = System.Runtime.JitInfo.GetCompilationTime();
            var methods = System.Runtime.JitInfo.GetCompiledMethodCount();
            lock (_phases) _phases.Add((phase, now - _last, jit - _lastJit, methods - _lastMethods));
            _last = now;
            _lastJit = jit;
            _lastMethods = methods;
        }

        public string Describe()
        {
            var text = new StringBuilder();
            var culture = CultureInfo.InvariantCulture;
            lock (_phases)
            {
                foreach (var (phase, ticks, jit, methods) in _phases)
                {
                    text.Append(culture, $"{phase} {Stopwatch.GetElapsedTime(0, ticks).TotalMilliseconds:F1} ms");
                    if (methods > 0) text.Append(culture, $" (JIT {jit.TotalMilliseconds:F1} ms, {methods} methods)");
                    text.Append(", ");
                }
            }
            text.Append(culture, $"total {Stopwatch.GetElapsedTime(_start).TotalMilliseconds:F1} ms; collections gen0/1/2 ");
            text.Append(culture, $"{GC.CollectionCount(0) - _gcAtStart[0]}/{GC.CollectionCount(1) - _gcAtStart[1]}/{GC.CollectionCount(2) - _gcAtStart[2]}");
            return text.ToString();
        }
    }
}

/// <summary>Wiring of <see cref="FirstQueryPhases"/>.</summary>
public static class FirstQueryPhasesExtensions
{
    /// <summary>Times the first few <c>POST /query</c> requests from the first middleware to the answer written.</summary>
    public static void UseFirstQueryPhases(this WebApplication app)
    {
        var phases = app.Services.GetRequiredService<FirstQueryPhases>();
        app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsPost(context.Request.Method) || !context.Request.Path.Equals("/query", StringComparison.OrdinalIgnoreCase))
            {
                await next(context);
                return;
            }
            phases.Begin(context);
            try
            {
                await next(context);
            }
            finally
            {
                phases.End(context, "answer written");
            }
        });
    }
}
