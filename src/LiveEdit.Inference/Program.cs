using Npgsql;

var builder = WebApplication.CreateBuilder(args);
var ledger = builder.Configuration.GetConnectionString("Ledger")
             ?? throw new InvalidOperationException("ConnectionStrings:Ledger is not set (see infra/services env).");
var transport = builder.Configuration["Transport:Kind"] ?? "InMemory";
if (transport is not ("InMemory" or "RabbitMq"))
    throw new InvalidOperationException($"Transport:Kind must be InMemory or RabbitMq, not '{transport}'.");
if (transport == "RabbitMq" && string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString("RabbitMq")))
    throw new InvalidOperationException("Transport:Kind is RabbitMq but ConnectionStrings:RabbitMq is not set.");
var workersInProcess = builder.Configuration.GetValue("Workers:InProcess", true);

var app = builder.Build();

app.MapGet("/health/live", () => Results.Ok(new { status = "live" }));
app.MapGet("/health/ready", async (CancellationToken ct) =>
{
    try
    {
        await using var connection = new NpgsqlConnection(ledger);
        await connection.OpenAsync(ct);
        return Results.Ok(new { status = "ready", transport, workersInProcess });
    }
    catch (NpgsqlException e)
    {
        return Results.Problem(title: "Ledger database unavailable", detail: e.Message, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
});

app.Run();
