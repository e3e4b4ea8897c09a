namespace LiveEdit.Hosting.Messaging;

/// <summary>Which MassTransit transport carries the work messages (configuration key <c>Transport:Kind</c>).</summary>
public enum TransportKind
{
    /// <summary>In-process: one machine, workers inside the inference host.</summary>
    InMemory,

    /// <summary>RabbitMQ: separate worker processes.</summary>
    RabbitMq,
}
