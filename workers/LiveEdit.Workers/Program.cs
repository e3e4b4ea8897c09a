var builder = Host.CreateApplicationBuilder(args);
var ledger = builder.Configuration.GetConnectionString("Ledger")
             ?? throw new InvalidOperationException("ConnectionStrings:Ledger is not set (see infra/services env).");
var rabbit = builder.Configuration.GetConnectionString("RabbitMq");
var transport = builder.Configuration["Transport:Kind"] ?? "RabbitMq";
if (transport == "RabbitMq" && string.IsNullOrWhiteSpace(rabbit))
    throw new InvalidOperationException("Transport:Kind is RabbitMq but ConnectionStrings:RabbitMq is not set.");

// The consumers (expert generation, index rebuild, reconciler) are wired here by issue 6.
var host = builder.Build();
host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LiveEdit.Workers")
    .LogInformation("Worker host starting: transport {Transport}, ledger {Ledger}", transport,
        ledger.Split(';').FirstOrDefault(p => p.StartsWith("Host=", StringComparison.OrdinalIgnoreCase)));
host.Run();
