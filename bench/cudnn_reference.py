"""A cuDNN LSTM's training speed, as the reference for bench/train_throughput.py on a GPU.

PyTorch's nn.LSTM (cuDNN) -> Linear, the pipeline's default shape (LSTM(64), window 60,
3 features, 1 output), Adam, MSE, trained on random windows at --batch; samples/s over
--epochs epochs after one warm-up epoch. Run it in the same call as train_throughput.py
so that both figures come from the same machine. Needs PyTorch with CUDA (not a
dependency of marketcast: the device machines have it; TensorFlow is not there).

    python bench/cudnn_reference.py [--batch 4096] [--windows 220000] [--epochs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--windows", type=int, default=220_000)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--features", type=int, default=3)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("this reference needs PyTorch with CUDA (the device machines have it)")
    if not torch.cuda.is_available():
        raise SystemExit("cudnn_reference.py needs a CUDA GPU")

    device = torch.device("cuda")
    torch.manual_seed(0)
    x = torch.randn(args.windows, args.window, args.features, device=device)
    y = torch.randn(args.windows, 1, device=device)
    lstm = torch.nn.LSTM(args.features, args.units, batch_first=True).to(device)
    head = torch.nn.Linear(args.units, 1).to(device)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)

    def epoch() -> float:
        torch.cuda.synchronize()
        started = time.perf_counter()
        for i in torch.randperm(args.windows, device=device).split(args.batch):
            out, _ = lstm(x[i])
            loss = torch.nn.functional.mse_loss(head(out[:, -1]), y[i])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        return time.perf_counter() - started

    epoch()  # warm-up: cuDNN plans, allocator
    times = [epoch() for _ in range(args.epochs)]
    rate = args.windows / statistics.median(times)
    print(
        f"cuDNN LSTM({args.units}), window {args.window}x{args.features}, batch {args.batch}, "
        f"{args.windows} windows on {torch.cuda.get_device_name()}: {rate:,.0f} samples/s "
        f"(median of {args.epochs} epochs, {statistics.median(times):.3f} s each)"
    )


if __name__ == "__main__":
    main()
