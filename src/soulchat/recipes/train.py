"""Fine-tune a model on SoulChat data from a YAML recipe.

Usage (from the repository root):

    accelerate launch --config_file recipes/accelerate_configs/zero3.yaml recipes/train.py \
        --config recipes/soulchat-glm4-9b/full.yaml

Any `--key value` after the recipe overrides it (`--max_steps 100 --learning_rate 1e-4`). Rerunning
the same command resumes from the last checkpoint in the recipe's output_dir.
"""

from soulchat.train import parse_arguments, train


def main() -> None:
    model_args, data_args, lora_args, training_args = parse_arguments()
    summary = train(model_args, data_args, lora_args, training_args)
    if training_args.should_log:
        print(f"{summary['global_step']} steps, train loss {summary['train_loss']:.4f} -> {summary['output_dir']}")


if __name__ == "__main__":
    main()
