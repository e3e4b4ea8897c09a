using Microsoft.Extensions.Configuration;

namespace LiveEdit.Hosting.Experts;

/// <summary>The name a worker records in <c>ExpertGenerated</c> (configuration <c>Workers:Id</c>, else host/pid).</summary>
public sealed record WorkerIdentity(string Id)
{
    public static WorkerIdentity From(IConfiguration configuration) =>
        new(configuration["Workers:Id"] is { Length: > 0 } id ? id : $"{Environment.MachineName}/{Environment.ProcessId}");
}
