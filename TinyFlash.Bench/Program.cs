Console.WriteLine("TinyFlash.Bench: commands arrive in the next commit.");
